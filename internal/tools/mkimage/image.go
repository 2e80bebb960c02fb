package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the image's user: a fixed non-root id ("nonroot" in distroless
// images), so that Kubernetes' runAsNonRoot can verify it without
// /etc/passwd.
const User = "65532:65532"

// Entrypoint is where the binary lies in the image.
const Entrypoint = "/aciworker"

// Spec is what goes into the image layout.
type Spec struct {
	Tag       string
	Created   time.Time
	Labels    map[string]string
	Platforms []Platform
}

// Platform is one image of the index.
type Platform struct {
	OS, Arch string
	Binary   []byte
}

// Write writes spec as an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) in a tar stream. Every timestamp is spec.Created and
// entries are in a fixed order, so equal inputs give equal bytes.
func Write(w io.Writer, spec Spec) error {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var blobs []blob
	for _, p := range spec.Platforms {
		img, err := image(p, spec)
		if err != nil {
			return fmt.Errorf("%s/%s image: %w", p.OS, p.Arch, err)
		}
		b, err := imageBlobs(img)
		if err != nil {
			return fmt.Errorf("%s/%s image: %w", p.OS, p.Arch, err)
		}
		blobs = append(blobs, b...)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	blobs = append(blobs, blob{digest, raw})
	top, err := json.MarshalIndent(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType:   types.OCIImageIndex,
			Size:        int64(len(raw)),
			Digest:      digest,
			Annotations: map[string]string{"org.opencontainers.image.ref.name": spec.Tag},
		}},
	}, "", "  ")
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: spec.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, ModTime: spec.Created, Typeflag: tar.TypeDir, Format: tar.FormatPAX})
	}
	if err := file("oci-layout", 0o644, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := file("index.json", 0o644, top); err != nil {
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	seen := map[v1.Hash]bool{}
	for _, b := range blobs {
		if seen[b.digest] {
			continue
		}
		seen[b.digest] = true
		if err := file("blobs/"+b.digest.Algorithm+"/"+b.digest.Hex, 0o644, b.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

type blob struct {
	digest v1.Hash
	data   []byte
}

// image is one platform's image: one layer holding the binary.
func image(p Platform, spec Spec) (v1.Image, error) {
	layerTar, err := binaryLayer(p.Binary, spec.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: spec.Created}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Arch,
		OS:           p.OS,
		Created:      created,
		Config: v1.Config{
			Entrypoint: []string{Entrypoint},
			User:       User,
			WorkingDir: "/",
			Labels:     spec.Labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "mkimage: COPY aciworker " + Entrypoint},
	})
}

// binaryLayer is a tar holding the binary alone, owned by root and
// executable by all, so the non-root user runs it and cannot change it.
func binaryLayer(bin []byte, t time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: Entrypoint[1:], Mode: 0o755, Size: int64(len(bin)), ModTime: t, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imageBlobs are an image's manifest, config and compressed layers.
func imageBlobs(img v1.Image) ([]blob, error) {
	var out []blob
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, blob{d, data})
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	cd, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	mf, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	md, err := img.Digest()
	if err != nil {
		return nil, err
	}
	return append(out, blob{cd, cfg}, blob{md, mf}), nil
}
