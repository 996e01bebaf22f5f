"""The end of a task pod, written into its try's remote log when the pod could not say it itself."""
