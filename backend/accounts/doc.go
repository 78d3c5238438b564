// Package accounts is the dashboard's accounts and access control:
// administrators, proctors and reviewers stored in the backend's SQLite
// database, argon2id password hashes (PHC strings, rehashed on login when
// the parameters change), login sessions in a cookie whose value is 256
// random bits stored only as its SHA-256 (idle and absolute expiry), a
// CSRF synchronizer token derived from the session (X-CSRF-Token) plus an
// Origin / Sec-Fetch-Site check on every state-changing request, login
// rate limits per account and per source address (token buckets with
// bounded memory; unknown names cost the same argon2 run as known ones),
// proctor-to-exam assignments (CanAccessExam) and the audit log.
//
// The backend mounts Store.Handler under Prefix and wraps its own dashboard
// routes in RequireRole, RequireCSRF and RequireExam. docs/dashboard.md
// describes the endpoints, cookies, CSRF rules and roles.
//
// Argon2id runs at most min(NumCPU, 4) at a time (Store.hash): with
// DefaultParams (m=19 MiB, t=2, p=1) a burst of logins costs at most
// 76 MiB and queues instead of exhausting memory. Measured on the 2-core
// development VM under load: 105 ms per hash at m=19 MiB/t=2/p=1, 675 ms
// at m=64 MiB/t=3/p=4 (BenchmarkHashPassword).
//
// Behind a reverse proxy every request comes from the proxy's address:
// Config.ClientIP names the real client (else the per-address limit
// applies to everyone together), and Config.AssumeTLS must be set when
// the proxy terminates TLS.
package accounts
