package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"syscall"

	"github.com/invigil/invigil/transport"
)

// NetCause says why the backend could not be reached, so the error screen
// says what happened instead of always "check Wi-Fi".
type NetCause string

// The causes, from the most to the least specific.
const (
	CauseRefused  NetCause = "refused"   // nothing listens at that address (connection refused)
	CauseNotFound NetCause = "not_found" // the name does not exist (DNS)
	CauseDNS      NetCause = "dns"       // the name could not be looked up (no DNS server answered)
	CauseTLS      NetCause = "tls"       // the server's certificate is not valid for it
	CauseNotTLS   NetCause = "not_tls"   // the address does not answer https
	CauseOffline  NetCause = "offline"   // this computer has no route to the network
	CauseTimeout  NetCause = "timeout"   // no answer in time
	CauseHTTP     NetCause = "http"      // the server answered with an HTTP error
	CauseServer   NetCause = "server"    // the backend answered that it has a problem
	CauseUnknown  NetCause = "unknown"
)

// netCause classifies a failure to reach the backend by the error's types
// (never its text). status is the HTTP status for CauseHTTP.
func netCause(err error) (cause NetCause, status int) {
	var (
		hs      *transport.HTTPStatusError
		re      *transport.RemoteError
		dns     *net.DNSError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		alert   tls.AlertError
		record  tls.RecordHeaderError
		errno   syscall.Errno
		ne      net.Error
	)
	switch {
	case errors.As(err, &hs):
		return CauseHTTP, hs.Status
	case errors.As(err, &re):
		return CauseServer, 0
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return CauseNotFound, 0
		}
		return CauseDNS, 0
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid), errors.As(err, &alert):
		return CauseTLS, 0
	case errors.As(err, &record), errors.Is(err, http.ErrSchemeMismatch):
		return CauseNotTLS, 0
	case errors.As(err, &errno) && isRefused(errno):
		return CauseRefused, 0
	case errors.As(err, &errno) && isOffline(errno):
		return CauseOffline, 0
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return CauseTimeout, 0
	}
	return CauseUnknown, 0
}
