"""What every layer uses: input checks, warnings aimed at the caller, files written atomically."""
