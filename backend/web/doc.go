// Package web holds the proctors' dashboard: static HTML, CSS and
// JavaScript embedded in invigild with go:embed, so the page works on a lab
// network without internet (no CDN, no build step, no framework).
//
// Each page is one HTML file with its own script; common.js holds what
// every page shares (the API helper that sends the CSRF token, the login
// redirect, the header, a tiny element builder). The pages talk only to the
// dashboard API under /api/v1/dashboard/ (docs/dashboard.md).
//
// Handler serves the pages under clean paths (/, /login, and the pages
// the live grid and review add) with a strict Content-Security-Policy: scripts and styles only
// from this origin, no inline script, media and images from this origin
// or blob: (the live player and the review player build blob URLs).
package web
