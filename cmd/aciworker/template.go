package main

import (
	"github.com/spf13/cobra"

	"github.com/aciworker/aciworker/prefectaci"
)

func newTemplateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "template",
		Short: "Print the default base job template of the azure-container-instance worker (JSON)",
		Long: `Print the default base job template of the azure-container-instance worker, the
same JSON prefect-azure 0.4.13 produces (keep_container_group included). Use it
with "prefect work-pool create --base-job-template" or "aciworker start
--base-job-template" as a starting point for a customised pool.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(prefectaci.DefaultBaseJobTemplate())
			return err
		},
	}
}
