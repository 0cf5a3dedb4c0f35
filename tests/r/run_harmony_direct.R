# Reference: harmony::RunHarmony called directly, as an R user would, outside harmonybridge.
# Usage: Rscript run_harmony_direct.R PCS.f64 N_CELLS META.tsv PARAMS.json OUT.f64
# PCS.f64 holds the cells x PCs embedding as raw little-endian doubles, row by row (exact);
# PARAMS.json holds vars_use, seed, the top-level RunHarmony arguments and harmony_options().
args <- commandArgs(trailingOnly = TRUE)
n_cells <- as.integer(args[[2]])
values <- readBin(args[[1]], "double", n = file.size(args[[1]]) / 8, endian = "little")
pcs <- t(matrix(values, ncol = n_cells)) # cells x PCs, as Embeddings() gives it
meta <- utils::read.delim(args[[3]], colClasses = "character")
p <- jsonlite::fromJSON(args[[4]])
for (v in p$vars_use) meta[[v]] <- factor(meta[[v]], levels = sort(unique(meta[[v]]), method = "radix"))
opts <- do.call(harmony::harmony_options, p$options)
set.seed(p$seed)
t0 <- proc.time()[["elapsed"]]
z <- harmony::RunHarmony(
  pcs, meta, p$vars_use,
  theta = p$theta, sigma = p$sigma, lambda = p$lambda, nclust = p$nclust,
  max_iter = p$max_iter, early_stop = TRUE, ncores = p$ncores, verbose = FALSE, .options = opts
)
message(sprintf("RunHarmony: %.3f s", proc.time()[["elapsed"]] - t0))
writeBin(as.vector(t(z)), args[[5]], endian = "little")
