// Command ensure creates (or checks) the project's Prefect virtualenv and
// prints its path; .ci/run uses it so the install is timed on its own.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aciworker/aciworker/internal/pyvenv"
)

func main() {
	dir, err := pyvenv.Ensure(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(dir)
}
