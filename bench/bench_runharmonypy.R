# RunHarmonyPy (harmonypy through reticulate) against harmony::RunHarmony, in one R process, on the
# same synthetic seeded embedding, with the same parameters, runs alternating.
#
#   Rscript bench/bench_runharmonypy.R [--cells 200000] [--dims 50] [--batches 8] [--repeats 3]
#                                      [--ncores 2] [--seed 0] [--python /path/to/python]
#
# Prints, per engine, the median wall time, the ratio, the peak memory of each run (the process's
# peak resident set above what it held before the run, reset before each run through
# /proc/self/clear_refs; and R's own heap peak from gc()), and the per-PC Pearson r between the
# two engines' embeddings (they use different random number generators, so they agree
# statistically, not bit for bit).
suppressPackageStartupMessages({
  library(harmonybridge)
  library(harmony)
})

args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default) {
  i <- match(paste0("--", name), args)
  if (is.na(i)) return(default)
  value <- args[[i + 1L]]
  if (is.numeric(default)) as.numeric(value) else value
}
n <- opt("cells", 200000)
d <- opt("dims", 50)
n_batches <- opt("batches", 8)
repeats <- opt("repeats", 3)
ncores <- opt("ncores", 2)
seed <- opt("seed", 0)
python <- opt("python", NULL)

# A seeded embedding: 20 cell types, each batch shifting every cell of it, plus noise.
set.seed(seed)
types <- sample.int(20L, n, replace = TRUE)
batch <- factor(paste0("batch", sample.int(n_batches, n, replace = TRUE)))
centres <- matrix(stats::rnorm(20 * d, sd = 3), 20, d)
shifts <- matrix(stats::rnorm(n_batches * d, sd = 1.5), n_batches, d)
emb <- centres[types, ] + shifts[as.integer(batch), ] + matrix(stats::rnorm(n * d), n, d)
dimnames(emb) <- list(paste0("cell", seq_len(n)), paste0("PC_", seq_len(d)))
meta <- data.frame(batch = batch, row.names = rownames(emb))
harmonybridge_python(python)
cat(sprintf("bench_runharmonypy: %d cells x %d dims, %d batches, %d repeats, ncores %d; R %s, harmony %s, harmonypy via %s\n",
            n, d, n_batches, repeats, ncores, getRversion(), utils::packageVersion("harmony"), harmonybridge_python()))

rss_kb <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line))
}
measure <- function(expr) {
  invisible(gc(reset = TRUE))
  base <- rss_kb("VmRSS")
  reset <- tryCatch({ cat("5", file = "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE)
  t0 <- proc.time()[["elapsed"]]
  value <- force(expr)
  seconds <- proc.time()[["elapsed"]] - t0
  r_heap <- sum(gc()[, 6L])  # "max used" (Mb) of R's heap since the reset
  list(value = value, seconds = seconds, peak_mb = if (reset) (rss_kb("VmHWM") - base) / 1024 else NA_real_, r_heap_mb = r_heap)
}

runs <- list(py = list(), r = list())
for (i in seq_len(repeats)) {
  s <- seed + i - 1L
  runs$py[[i]] <- measure(RunHarmonyPy(emb, meta, "batch", ncores = ncores, seed = s, verbose = FALSE))
  set.seed(s)
  runs$r[[i]] <- measure(RunHarmony(emb, meta, "batch", ncores = ncores, verbose = FALSE))
  cat(sprintf("\n  repeat %d: RunHarmonyPy %.2f s, RunHarmony %.2f s\n", i, runs$py[[i]]$seconds, runs$r[[i]]$seconds))
}
summary_of <- function(rs, what) stats::median(vapply(rs, `[[`, numeric(1), what))
t_py <- summary_of(runs$py, "seconds")
t_r <- summary_of(runs$r, "seconds")
cat(sprintf("\nmedian time: RunHarmonyPy %.2f s, RunHarmony %.2f s; RunHarmony / RunHarmonyPy = %.1fx\n", t_py, t_r, t_r / t_py))
cat(sprintf("peak memory above the start of the run (process RSS, median): RunHarmonyPy %.0f MB, RunHarmony %.0f MB\n",
            summary_of(runs$py, "peak_mb"), summary_of(runs$r, "peak_mb")))
cat(sprintf("R heap max used during the run, input included (gc, median): RunHarmonyPy %.0f MB, RunHarmony %.0f MB\n",
            summary_of(runs$py, "r_heap_mb"), summary_of(runs$r, "r_heap_mb")))
r <- vapply(seq_len(d), function(j) stats::cor(runs$py[[1]]$value[, j], runs$r[[1]]$value[, j]), numeric(1))
cat(sprintf("per-PC Pearson r, RunHarmonyPy vs RunHarmony (first repeat): min %.4f (PC %d), median %.4f, max %.4f\n",
            min(r), which.min(r), stats::median(r), max(r)))
r_py <- vapply(seq_len(d), function(j) stats::cor(runs$py[[1]]$value[, j], emb[, j]), numeric(1))
cat(sprintf("  (for scale: per-PC r of the corrected vs uncorrected embedding: median %.4f)\n", stats::median(r_py)))
if (repeats >= 2) {
  r_within <- vapply(seq_len(d), function(j) stats::cor(runs$r[[1]]$value[, j], runs$r[[2]]$value[, j]), numeric(1))
  r_within_py <- vapply(seq_len(d), function(j) stats::cor(runs$py[[1]]$value[, j], runs$py[[2]]$value[, j]), numeric(1))
  cat(sprintf("  (seed spread, per-PC r between repeats 1 and 2: RunHarmony min %.4f, RunHarmonyPy min %.4f)\n",
              min(r_within), min(r_within_py)))
}
