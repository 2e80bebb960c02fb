package main

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"
)

// writeEntry puts one tar entry below dir.
func writeEntry(t *testing.T, dir string, h *tar.Header, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(h.Name))
	if h.Typeflag == tar.TypeDir {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
