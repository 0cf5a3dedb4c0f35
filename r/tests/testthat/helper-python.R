# The Python that RunHarmonyPy() uses: skipped with the reason when none is configured and
# reticulate's own choice has no harmonybridge; an error when one is configured (the
# `HARMONYBRIDGE_PYTHON` variable or the set-up's record) but does not work, so that a broken
# set-up fails the suite instead of skipping it.
skip_if_no_harmonybridge_python <- function() {
  skip_if_not_installed("reticulate")
  configured <- nzchar(Sys.getenv("HARMONYBRIDGE_PYTHON")) || file.exists(hb_python_config_file())
  ok <- tryCatch({
    harmonybridge_python()
    TRUE
  }, error = function(e) if (configured) stop(e) else conditionMessage(e))
  if (!isTRUE(ok)) skip(paste("no Python with harmonybridge:", ok))
  invisible(TRUE)
}

# The Python in use (for subprocesses that run harmonypy directly).
harmonybridge_python_path <- function() as.character(harmonybridge_python())
