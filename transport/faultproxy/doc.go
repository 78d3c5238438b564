// Package faultproxy is a loopback TCP proxy that tests put between a client
// and a backend to stall, cut, refuse and throttle connections. It only ever
// listens on and dials 127.0.0.0/8.
package faultproxy
