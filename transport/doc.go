// Package transport implements Invigil's wire protocol v1 (docs/protocol.md):
// the binary frame header, the JSON control messages, the join API types, the
// websocket client with reliable, resumable delivery through an encrypted
// on-disk spool, and the server-side protocol handler the backend builds on.
//
// transport never imports Fyne, lockdown or capture: the client hands it
// messages to deliver and implements the small interfaces it calls back into.
package transport
