# Install R's harmony the way R users do: install.packages() from the repositories configured.
#
#   Rscript scripts/install_rharmony.R [DEFAULT_LOCAL_REPO]
#
# Repositories, in this order: CRAN (getOption("repos"); "@CRAN@" means https://cloud.r-project.org),
# then every CRAN-like repository named in HARMONYBRIDGE_R_REPOS (URLs or local paths, separated by
# spaces or commas). When HARMONYBRIDGE_R_REPOS is unset and DEFAULT_LOCAL_REPO is a folder (set-up passes
# ../shared/cran), that folder is used. install.packages() reads every index it can reach and takes
# the newest harmony among them, with its CRAN dependencies (RhpcBLASctl); the rest comes from Debian.
#
# Prints one line saying where harmony came from, or which repositories were tried and how to name
# another; exits 0 when harmony is installed, 1 when it is not. Does nothing when harmony is installed.
args <- commandArgs(trailingOnly = TRUE)
say <- function(...) cat("[setup] ", ..., "\n", sep = "", file = stderr())

if (requireNamespace("harmony", quietly = TRUE)) {
  say("R harmony ", format(utils::packageVersion("harmony")), " found in ", dirname(find.package("harmony")))
  quit(status = 0)
}

as_repo <- function(x) {
  if (grepl("^[a-z][a-z0-9+.-]*://", x, ignore.case = TRUE)) return(sub("/+$", "", x))
  if (!dir.exists(x)) return(NA_character_)
  paste0("file://", normalizePath(x, mustWork = TRUE))
}

cran <- getOption("repos")
cran[cran == "@CRAN@"] <- "https://cloud.r-project.org"
if (length(cran) == 0L) cran <- c(CRAN = "https://cloud.r-project.org")
if (is.null(names(cran))) names(cran) <- rep("CRAN", length(cran))

named <- Sys.getenv("HARMONYBRIDGE_R_REPOS", "")
if (nzchar(named)) {
  given <- strsplit(trimws(named), "[[:space:],]+")[[1]]
  local <- vapply(given, as_repo, "")
  for (g in given[is.na(local)]) say("HARMONYBRIDGE_R_REPOS names ", g, ", which is neither a URL nor a folder; ignored")
  local <- local[!is.na(local)]
  source <- "HARMONYBRIDGE_R_REPOS"
} else if (length(args) >= 1L && dir.exists(args[[1]])) {
  local <- as_repo(args[[1]])
  source <- "the default local repository"
} else {
  local <- character()
  source <- ""
}
names(local) <- if (length(local)) paste0("local", seq_along(local)) else character()
repos <- c(cran, local)

# Which of them answer (a few seconds at most where the network is absent), so that the
# failure line can say why each one gave nothing.
options(timeout = max(30, getOption("timeout")))
reach <- vapply(repos, function(r) {
  ap <- tryCatch(
    suppressWarnings(utils::available.packages(repos = r, type = "source")),
    error = function(e) NULL
  )
  if (is.null(ap) || nrow(ap) == 0L) "unreachable or empty"
  else if ("harmony" %in% rownames(ap)) paste("has harmony", ap["harmony", "Version"])
  else "reachable, no harmony"
}, "")

if (!any(startsWith(reach, "has harmony"))) {
  tried <- paste(sprintf("%s (%s)", repos, reach), collapse = "; ")
  say("R harmony could not be installed: tried ", tried, ". ",
      "Name a CRAN-like repository that holds it: HARMONYBRIDGE_R_REPOS='/path/to/cran https://mirror.example/cran' ",
      "(see README, 'Offline and air-gapped installs'); the R engine and its tests need it.")
  quit(status = 1)
}

t0 <- proc.time()[["elapsed"]]
say("installing R harmony from ", paste(repos[startsWith(reach, "has harmony")], collapse = ", "),
    if (nzchar(source)) paste0(" (", source, ")") else "", "; compiling takes about a minute")
ok <- tryCatch({
  suppressWarnings(utils::install.packages("harmony", repos = repos[reach != "unreachable or empty"],
                                           type = "source", quiet = TRUE,
                                           dependencies = c("Depends", "Imports", "LinkingTo")))
  requireNamespace("harmony", quietly = TRUE)
}, error = function(e) {
  say("install.packages failed: ", conditionMessage(e))
  FALSE
})
if (!ok) {
  say("R harmony could not be installed from ", paste(repos, collapse = ", "),
      " (compilation failed? rerun without quiet: Rscript -e 'install.packages(\"harmony\", repos = ...)')")
  quit(status = 1)
}
say(sprintf("R harmony %s installed into %s in %.0f s", format(utils::packageVersion("harmony")),
            dirname(find.package("harmony")), proc.time()[["elapsed"]] - t0))
