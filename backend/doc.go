// Package backend is Invigil's reference backend (invigild): exams and their
// signed policies, the join API, websocket ingest that stores every message
// exactly once before acknowledging it, recordings on the local disk and the
// session/event store in SQLite.
package backend
