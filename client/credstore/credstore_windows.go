//go:build windows

package credstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// dpapi seals secrets with CryptProtectData in the current user's scope and
// keeps the blob in dir: only this Windows user (with their password) can
// unseal it, on this computer.
type dpapi struct{}

func open() (osStore, error) { return dpapi{}, nil }

func (dpapi) kind() string { return "dpapi" }

func blobPath(dir, name string) string { return filepath.Join(dir, name+".dpapi") }

var entropy = []byte("invigil credential v1")

func blob(b []byte) *windows.DataBlob {
	if len(b) == 0 {
		return &windows.DataBlob{}
	}
	return &windows.DataBlob{Size: uint32(len(b)), Data: &b[0]}
}

func (dpapi) put(dir, name string, secret []byte) error {
	var out windows.DataBlob
	if err := windows.CryptProtectData(blob(secret), nil, blob(entropy), 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN, &out); err != nil {
		return err
	}
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	sealed := append([]byte(nil), unsafe.Slice(out.Data, out.Size)...)
	path := blobPath(dir, name)
	if err := os.WriteFile(path+".tmp", sealed, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func (dpapi) get(dir, name string) ([]byte, error) {
	sealed, err := os.ReadFile(blobPath(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var out windows.DataBlob
	if err := windows.CryptUnprotectData(blob(sealed), nil, blob(entropy), 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN, &out); err != nil {
		return nil, err
	}
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	return append([]byte(nil), unsafe.Slice(out.Data, out.Size)...), nil
}

func (dpapi) del(dir, name string) error {
	err := os.Remove(blobPath(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}
