// Package credstore keeps the client's small secrets (a session's bearer
// token) in the operating system's credential store instead of a file next
// to the spool: on Linux the kernel's user keyring, on Windows DPAPI
// (CryptProtectData, current-user scope: the sealed blob is a file that only
// this Windows user, with their password, can open), on macOS the login
// Keychain (through the security tool). Where none is available the calls
// fail with ErrUnsupported and the caller falls back to a 0600 file and
// says so.
//
// What it protects: the token at rest against someone who has the disk
// (a stolen or shared computer, a backup, a disk image) but not the user's
// login. What it cannot: the user themselves, who can always read their own
// credentials. On Linux the kernel keyring lives in memory: it survives
// client crashes and restarts but not a reboot or the user's last logout;
// after that the session cannot be resumed, and the client sets its spool
// aside and reports it (docs/protocol.md section 6).
package credstore
