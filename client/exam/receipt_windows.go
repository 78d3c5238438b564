//go:build windows

package exam

import "golang.org/x/sys/windows"

// documentsDir is the Documents known folder (which IT may redirect, to
// OneDrive or a network share).
func documentsDir() string {
	d, err := windows.KnownFolderPath(windows.FOLDERID_Documents, windows.KF_FLAG_DEFAULT)
	if err != nil {
		return ""
	}
	return d
}
