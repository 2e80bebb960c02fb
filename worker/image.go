package worker

import (
	"context"
	"fmt"
	"regexp"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// DefaultPython is the Python minor version of the default image. The
// Python worker pins its own interpreter's; aciworker has none, so it
// names one that Prefect publishes images for.
const DefaultPython = "3.12"

// releaseVersion matches a Prefect release (3.8.8, 3.9.0rc1): versions
// with a local part (3.8.8+12.gabc1234) are development builds, which have
// no prefecthq/prefect image.
var releaseVersion = regexp.MustCompile(`^\d+\.\d+\.\d+([a-z]+\d+)?$`)

var pythonMinor = regexp.MustCompile(`^3\.\d+$`)

// defaultImage is the image of a run whose deployment sets none, as
// prefect-azure's get_prefect_image_name picks it, with the server's
// Prefect version in place of the worker's: override when set, else
// prefecthq/prefect:<server version>-python<python>, else (the version
// unknown or a development build) prefecthq/prefect:3-latest.
func defaultImage(override, serverVersion, python string) (image, why string) {
	if override != "" {
		return override, "the worker's default image (ACIWORKER_DEFAULT_IMAGE)"
	}
	if python == "" {
		python = DefaultPython
	}
	if !releaseVersion.MatchString(serverVersion) {
		return aci.DefaultImage, fmt.Sprintf("the Prefect server's version %q has no release image", serverVersion)
	}
	return fmt.Sprintf("prefecthq/prefect:%s-python%s", serverVersion, python), "the Prefect server's version " + serverVersion
}

// noteJobChoices fills in what the job configuration left to the worker
// and says so in the run's logs: the default image, and GPU requests,
// which prefect-azure ignored and Azure no longer serves.
func (w *Worker) noteJobChoices(ctx context.Context, r *run, cfg *jobConfig) {
	if cfg.ImageDefaulted {
		if w.cfg.DefaultImage == "" {
			// The version is read beside the first poll, not before it;
			// the read has its own bound.
			select {
			case <-w.versionRead:
			case <-ctx.Done():
			}
		}
		image, why := defaultImage(w.cfg.DefaultImage, w.ServerVersion(), w.cfg.DefaultPython)
		cfg.Image = image
		if r.origin == submitted {
			w.runLog(r.id, prefect.LevelInfo, fmt.Sprintf("The deployment sets no image: using %s (%s)", image, why))
		}
	}
	if r.origin != submitted {
		return // the run was told when it was submitted
	}
	if cfg.GPUCount > 0 || cfg.GPUSKU != "" {
		w.runLog(r.id, prefect.LevelWarning, fmt.Sprintf("This run asks for GPUs (gpu_count=%d, gpu_sku=%q), which prefect-azure ignored and aciworker passes to Azure; "+
			"Azure retired GPU container groups on 14 July 2025, so Azure will most likely refuse the container group", cfg.GPUCount, cfg.GPUSKU))
	}
}
