# The R half's testthat suite, as `make test-r` and scripts/trixie.sh run it.
# Fails on any failing test; under HARMONYBRIDGE_REQUIRE_R=1 (CI) also on any skip for a package that
# cannot be loaded (testthat's skip_if_not_installed), so a machine missing an R piece never passes by
# skipping. Every skip's reason is printed.
res <- testthat::test_dir("r/tests/testthat", package = "harmonybridge", load_package = "installed",
                          stop_on_failure = TRUE)
skips <- unlist(lapply(res, function(t) {
  vapply(Filter(function(e) inherits(e, "expectation_skip"), t$results),
         function(e) paste0(t$test, ": ", conditionMessage(e)), "")
}))
for (s in skips) cat("skipped:", s, "\n")
missing <- grep("cannot be loaded|not installed|is not available", skips, value = TRUE)
if (length(missing) && identical(Sys.getenv("HARMONYBRIDGE_REQUIRE_R"), "1")) {
  cat("HARMONYBRIDGE_REQUIRE_R=1 forbids these skips (an R package is missing):\n",
      paste0("  ", missing, "\n"), sep = "", file = stderr())
  quit(status = 1)
}
cat(sprintf("testthat: %d tests, %d skipped\n", length(res), length(skips)))
