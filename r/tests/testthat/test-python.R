# Which Python R uses: each case in a fresh R process, since one R session runs one Python.
run_r <- function(code, env = character()) {
  dir <- tempfile("hbpy")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  env <- c(
    paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep)),
    paste0("R_USER_CONFIG_DIR=", file.path(dir, "config")),  # no set-up record unless a case writes one
    "HARMONYBRIDGE_PYTHON=", "RETICULATE_PYTHON=", env
  )
  script <- file.path(dir, "case.R")
  writeLines(code, script)
  out <- withr_dir(dir, suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), script, env = env, stdout = TRUE, stderr = TRUE)))
  gsub("\\s+", " ", paste(out, collapse = " "))  # cli wraps long lines
}
withr_dir <- function(dir, expr) {
  old <- setwd(dir)
  on.exit(setwd(old))
  force(expr)
}

test_that("the python argument comes first, then HARMONYBRIDGE_PYTHON, then the set-up's record", {
  skip_if_no_harmonybridge_python()
  good <- harmonybridge_python_path()
  show <- "cat('USING', as.character(harmonybridge::harmonybridge_python(%s)), '\\n')"
  expect_match(run_r(sprintf(show, deparse(good)), "HARMONYBRIDGE_PYTHON=/nonexistent/python"), paste("USING", good), fixed = TRUE)
  expect_match(run_r(sprintf(show, ""), paste0("HARMONYBRIDGE_PYTHON=", good)), paste("USING", good), fixed = TRUE)
  record <- c(
    "dir <- tools::R_user_dir('harmonybridge', 'config')",
    "dir.create(dir, recursive = TRUE)",
    sprintf("writeLines(%s, file.path(dir, 'python'))", deparse(good))
  )
  expect_match(run_r(c(record, sprintf(show, ""))), paste("USING", good), fixed = TRUE)
  # the environment variable overrides the record
  out <- run_r(c(sub(deparse(good), "'/nonexistent/recorded'", record, fixed = TRUE), sprintf(show, "")),
               paste0("HARMONYBRIDGE_PYTHON=", good))
  expect_match(out, paste("USING", good), fixed = TRUE)
  out <- run_r(c(sub(deparse(good), "'/nonexistent/recorded'", record, fixed = TRUE), sprintf(show, "")))
  expect_match(out, "The Python given by the set-up's record", fixed = TRUE)
})

test_that("a Python that is missing or lacks harmonybridge gives one error naming the fix", {
  skip_if_no_harmonybridge_python()
  out <- run_r("harmonybridge::harmonybridge_python()", "HARMONYBRIDGE_PYTHON=/nonexistent/python")
  expect_match(out, "The Python given by HARMONYBRIDGE_PYTHON does not exist", fixed = TRUE)
  expect_match(out, "make setup", fixed = TRUE)
  plain <- "/usr/bin/python3"  # not Sys.which(): reticulate puts its Python's folder first on the PATH
  skip_if(!file.exists(plain), "no /usr/bin/python3")
  has_hb <- system2(plain, c("-c", shQuote("import harmonybridge")), stdout = FALSE, stderr = FALSE) == 0
  skip_if(has_hb, "/usr/bin/python3 has harmonybridge")
  out <- run_r(sprintf("harmonybridge::RunHarmonyPy(matrix(rnorm(40), 20), rep(1:2, 10), python = %s)", deparse(plain)))
  expect_match(out, "has no harmonybridge Python package", fixed = TRUE)
  expect_match(out, "HARMONYBRIDGE_PYTHON", fixed = TRUE)
  expect_match(out, "/usr/bin/python3 -m pip install harmonybridge", fixed = TRUE)
})

test_that("once Python runs, asking for another one says to restart R", {
  skip_if_no_harmonybridge_python()
  expect_error(harmonybridge_python("/usr/bin/surely-not-python"), "already runs the Python")
  expect_error(harmonybridge_python("/usr/bin/surely-not-python"), "Restart R")
  expect_error(harmonybridge_python(c("a", "b")), "must be the path of a Python executable")
  expect_identical(as.character(harmonybridge_python(harmonybridge_python_path())), harmonybridge_python_path())
})
