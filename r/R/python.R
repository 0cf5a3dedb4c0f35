# Finding the Python that has harmonybridge, for RunHarmonyPy() and CrossCheckHarmony().
#
# Order: the `python` argument, else the HARMONYBRIDGE_PYTHON environment variable, else the
# file that the set-up wrote (scripts/setup.sh records its .venv's python in
# tools::R_user_dir("harmonybridge", "config")/python), else reticulate's own choice
# (RETICULATE_PYTHON, an active virtualenv, python3 on the PATH). Conda is never needed or
# installed: reticulate's offer to install Miniconda is switched off here.

.hb_py <- new.env(parent = emptyenv())

#' The file where the set-up records the Python that has harmonybridge.
#' @noRd
hb_python_config_file <- function() {
  file.path(tools::R_user_dir("harmonybridge", "config"), "python")
}

# The requested Python and where the request came from, or NULL for reticulate's choice.
.hb_python_request <- function(python = NULL) {
  if (!is.null(python)) {
    if (!is.character(python) || length(python) != 1L || is.na(python) || !nzchar(python)) {
      .hb_abort(c(
        "{.arg python} must be the path of a Python executable, one string.",
        "i" = "e.g. {.code python = \"~/harmonybridge/.venv/bin/python\"}"
      ))
    }
    return(list(path = python, source = "the `python` argument"))
  }
  env <- Sys.getenv("HARMONYBRIDGE_PYTHON", "")
  if (nzchar(env)) return(list(path = env, source = "HARMONYBRIDGE_PYTHON"))
  file <- hb_python_config_file()
  if (file.exists(file)) {
    path <- trimws(readLines(file, n = 1L, warn = FALSE))
    if (length(path) && nzchar(path)) return(list(path = path, source = paste0("the set-up's record (", file, ")")))
  }
  NULL
}

.hb_python_fix <- function(python = "/path/to/python") {
  c(
    "i" = "Point R at a Python that has harmonybridge: {.code python = \"/path/to/.venv/bin/python\"}, or {.code Sys.setenv(HARMONYBRIDGE_PYTHON = \"/path/to/.venv/bin/python\")} before the first call.",
    "i" = "{.code make setup} in a harmonybridge checkout makes such a .venv and records it for R; or install into that Python: {.code {python} -m pip install harmonybridge}."
  )
}

#' The Python that harmonybridge's R functions use
#'
#' Finds (and on first use starts) the Python that runs harmonybridge's Python engine, and
#' checks that it has the harmonybridge Python package. Called by [RunHarmonyPy()] and
#' [CrossCheckHarmony()]; call it yourself to see which Python R will use.
#'
#' The Python is, in this order: the `python` argument; the `HARMONYBRIDGE_PYTHON`
#' environment variable; the Python recorded by harmonybridge's set-up (`make setup`
#' writes its virtual environment's python to the file
#' `file.path(tools::R_user_dir("harmonybridge", "config"), "python")`); else reticulate's
#' own choice (`RETICULATE_PYTHON`, an active virtual environment, `python3` on the
#' `PATH`). Conda is not needed. One R session runs one Python: once started, asking for
#' another is an error that says so.
#'
#' @param python Path of a Python executable, or `NULL` to look it up as above.
#' @return The path of the Python in use, invisibly; with its harmonybridge version as the
#'   attribute `"harmonybridge"`.
#' @examples
#' \dontrun{
#' harmonybridge_python()
#' harmonybridge_python("~/harmonybridge/.venv/bin/python")
#' }
#' @export
harmonybridge_python <- function(python = NULL) {
  .hb_python_module(python)
  invisible(structure(.hb_py$python, harmonybridge = .hb_py$version))
}

# The harmonybridge.rpackage module, imported once per session.
.hb_python_module <- function(python = NULL) {
  hb_require("reticulate", "Running harmonybridge's Python engine from R")
  request <- .hb_python_request(python)
  if (!is.null(.hb_py$module)) {
    if (!is.null(request) && !.hb_same_python(request$path, .hb_py$python)) .hb_python_conflict(request, .hb_py$python)
    return(.hb_py$module)
  }
  if (!nzchar(Sys.getenv("RETICULATE_MINICONDA_ENABLED"))) Sys.setenv(RETICULATE_MINICONDA_ENABLED = "FALSE")
  if (reticulate::py_available(initialize = FALSE)) {
    running <- reticulate::py_config()$python
    if (!is.null(request) && !.hb_same_python(request$path, running)) .hb_python_conflict(request, running)
    source <- "the Python this R session already runs"
  } else if (!is.null(request)) {
    path <- path.expand(request$path)
    if (!file.exists(path)) {
      .hb_abort(c(
        "The Python given by {request$source} does not exist: {.path {path}}.",
        .hb_python_fix()
      ))
    }
    # RETICULATE_PYTHON rather than use_python(): reticulate 1.28 would otherwise still look
    # for a poetry or pipenv project in the working directory first
    old <- Sys.getenv("RETICULATE_PYTHON", NA)
    Sys.setenv(RETICULATE_PYTHON = path)
    on.exit(if (is.na(old)) Sys.unsetenv("RETICULATE_PYTHON") else Sys.setenv(RETICULATE_PYTHON = old), add = TRUE)
    source <- request$source
  } else {
    source <- "reticulate's own choice"
  }
  ok <- tryCatch(reticulate::py_module_available("harmonybridge.rpackage"), error = function(e) {
    .hb_abort(c(
      "R could not start Python ({source}): {conditionMessage(e)}",
      .hb_python_fix()
    ))
  })
  python <- tryCatch(reticulate::py_config()$python, error = function(e) "unknown")
  if (!isTRUE(ok)) {
    .hb_abort(c(
      "The Python R uses ({.path {python}}, from {source}) has no harmonybridge Python package (or one without {.pkg harmonybridge.rpackage}).",
      .hb_python_fix(python)
    ))
  }
  module <- reticulate::import("harmonybridge.rpackage", convert = TRUE)
  .hb_py$module <- module
  .hb_py$python <- python
  .hb_py$version <- tryCatch(
    as.character(reticulate::import("importlib.metadata")$version("harmonybridge")),
    error = function(e) NA_character_
  )
  module
}

.hb_same_python <- function(a, b) {
  # compare the folders (a venv's python is a symlink to the system one: do not resolve it)
  a <- path.expand(a)
  b <- path.expand(b)
  identical(a, b) || identical(normalizePath(dirname(a), mustWork = FALSE), normalizePath(dirname(b), mustWork = FALSE))
}

.hb_python_conflict <- function(request, running) {
  .hb_abort(c(
    "This R session already runs the Python {.path {running}}; {request$source} asks for {.path {request$path}}.",
    "i" = "One R session can run one Python. Restart R, then set {.envvar HARMONYBRIDGE_PYTHON} or pass {.arg python} before anything starts Python."
  ))
}
