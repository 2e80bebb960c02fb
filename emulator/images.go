package emulator

import (
	"fmt"
	"strings"
)

// The emulator's image rules, in the order they apply (docs/emulator.md has
// them as a table):
//  1. An image rule with a pull error (Config.Images, --image-fail-pull)
//     fails the pull with its message.
//  2. An image on a private registry — any registry host but the public ones
//     below — pulls only when the group has imageRegistryCredentials for
//     that server; else the pull fails as ACI's does for an anonymous pull
//     (Warning event Failed, then BackOff; the group fails InaccessibleImage).
//     The credentials themselves are not checked: there is no registry.
//  3. Anything else runs as local programs (Prefect's images with their
//     entrypoint passed through; see package runtime).

// publicRegistries are the registry hosts whose images pull anonymously.
// Docker Hub's private repositories cannot be told from its public ones, so
// all of Docker Hub counts as public.
var publicRegistries = map[string]bool{
	"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true,
	"mcr.microsoft.com": true, "ghcr.io": true, "quay.io": true,
	"public.ecr.aws": true, "registry.k8s.io": true, "gcr.io": true,
}

// imageRegistry is the registry host of an image reference, as Docker
// reads it: the first path component when it has a dot or a port or is
// localhost, else Docker Hub.
func imageRegistry(image string) string {
	first, rest, ok := strings.Cut(image, "/")
	if !ok || rest == "" || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return "docker.io"
	}
	return strings.ToLower(first)
}

// fullReference is the reference as containerd names it in pull errors:
// registry host first, ":latest" when there is neither tag nor digest.
func fullReference(image string) string {
	ref := image
	if imageRegistry(image) == "docker.io" && !strings.HasPrefix(strings.ToLower(image), "docker.io/") {
		if !strings.Contains(image, "/") {
			ref = "library/" + ref
		}
		ref = "docker.io/" + ref
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.ContainsAny(last, ":@") {
		ref += ":latest"
	}
	return ref
}

// privatePullError is the pull error of an image on a private registry
// with no credentials for it, or "" when the image pulls.
func privatePullError(image string, credentialed map[string]bool) string {
	reg := imageRegistry(image)
	if publicRegistries[reg] || credentialed[reg] {
		return ""
	}
	ref := fullReference(image)
	repo := ref[len(reg)+1:]
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	} else if i := strings.LastIndexByte(repo, ':'); i > 0 {
		repo = repo[:i]
	}
	return fmt.Sprintf(`rpc error: code = Unknown desc = failed to pull and unpack image "%s": failed to resolve reference "%s": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://%s/oauth2/token?scope=repository%%3A%s%%3Apull&service=%s: 401 Unauthorized`,
		ref, ref, reg, repo, reg)
}
