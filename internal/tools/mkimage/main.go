// Command mkimage writes aciworker's container image as an OCI image
// layout in a tar file, without a container daemon: one image per
// platform, each holding the static binary alone at /aciworker, run as
// its entrypoint by a non-root user, under one image index. The same
// binaries and flags give the same bytes.
//
//	go run ./internal/tools/mkimage -o dist/aciworker-image.tar -tag aciworker:v1.2.3 \
//	    -created 2026-12-03T12:00:00Z linux/amd64=dist/aciworker_linux_amd64 linux/arm64=dist/aciworker_linux_arm64
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	var (
		out      = flag.String("o", "dist/aciworker-image.tar", "output tar file")
		tag      = flag.String("tag", "aciworker:dev", "reference name recorded in the layout's index.json")
		created  = flag.String("created", "1970-01-01T00:00:00Z", "creation time of the images (RFC 3339; the commit's time keeps builds reproducible)")
		version  = flag.String("version", "", "org.opencontainers.image.version label")
		revision = flag.String("revision", "", "org.opencontainers.image.revision label")
	)
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mkimage [flags] OS/ARCH=BINARY ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*out, *tag, *created, *version, *revision, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(out, tag, created, version, revision string, args []string) error {
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return fmt.Errorf("-created %q: %w", created, err)
	}
	if len(args) == 0 {
		return fmt.Errorf("no OS/ARCH=BINARY given")
	}
	spec := Spec{Tag: tag, Created: t.UTC(), Labels: map[string]string{
		"org.opencontainers.image.title":    "aciworker",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.source":   "https://github.com/aciworker/aciworker",
	}}
	if version != "" {
		spec.Labels["org.opencontainers.image.version"] = version
	}
	if revision != "" {
		spec.Labels["org.opencontainers.image.revision"] = revision
	}
	for _, a := range args {
		plat, path, ok := strings.Cut(a, "=")
		osName, arch, ok2 := strings.Cut(plat, "/")
		if !ok || !ok2 || path == "" {
			return fmt.Errorf("%q: want OS/ARCH=BINARY", a)
		}
		bin, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		spec.Platforms = append(spec.Platforms, Platform{OS: osName, Arch: arch, Binary: bin})
	}
	var buf bytes.Buffer
	if err := Write(&buf, spec); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
