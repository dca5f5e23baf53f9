"""Front package: configuration, pipeline steps and the `tesoma` command."""
