package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func testSpec() Spec {
	return Spec{
		Tag:     "aciworker:test",
		Created: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC),
		Labels:  map[string]string{"org.opencontainers.image.version": "v0.0.1"},
		Platforms: []Platform{
			{OS: "linux", Arch: "amd64", Binary: []byte("amd64 binary")},
			{OS: "linux", Arch: "arm64", Binary: []byte("arm64 binary")},
		},
	}
}

// untar extracts a tar stream into a map and a directory.
func untar(t *testing.T, data []byte, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
		if dir != "" {
			writeEntry(t, dir, h, b)
		}
	}
	return files
}

func TestImageLayout(t *testing.T) {
	t.Parallel()
	var a, b bytes.Buffer
	if err := Write(&a, testSpec()); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, testSpec()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two builds of the same spec differ")
	}
	dir := t.TempDir()
	untar(t, a.Bytes(), dir)

	// The layout reads back with go-containerregistry's own reader.
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "aciworker:test" {
		t.Fatalf("index.json = %+v", tm)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("the image index has %d manifests, want 2", len(im.Manifests))
	}
	for i, want := range []string{"amd64", "arm64"} {
		d := im.Manifests[i]
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != want {
			t.Fatalf("manifest %d platform %+v, want linux/%s", i, d.Platform, want)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Config.User != User || strings.HasPrefix(cfg.Config.User, "0") {
			t.Errorf("%s: user %q", want, cfg.Config.User)
		}
		if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != Entrypoint {
			t.Errorf("%s: entrypoint %v", want, cfg.Config.Entrypoint)
		}
		if cfg.Architecture != want || !cfg.Created.Time.Equal(testSpec().Created) {
			t.Errorf("%s: config %+v", want, cfg)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s: %d layers, %v", want, len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		files := untar(t, data, "")
		if len(files) != 1 || string(files["aciworker"]) != want+" binary" {
			t.Errorf("%s: layer holds %v, want the binary alone", want, keys(files))
		}
	}
	var raw map[string]any
	if err := json.Unmarshal(untar(t, a.Bytes(), "")["oci-layout"], &raw); err != nil || raw["imageLayoutVersion"] != "1.0.0" {
		t.Errorf("oci-layout = %v, %v", raw, err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
