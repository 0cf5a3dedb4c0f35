# A seeded synthetic Seurat object run through Seurat's standard pipeline, for bench_rds_harmony.py.
#
#   Rscript bench/build_bench_seurat.R OUT.rds CELLS GENES BATCHES SEED
#
# Counts: negative binomial, 12 cell types with their own gene programmes (log-normal means,
# 5% marker genes up 4x per type), each batch with its own depth and a gene-wise batch factor,
# cells grouped by batch. Then CreateSeuratObject, NormalizeData, FindVariableFeatures (2,000),
# ScaleData, RunPCA (30), FindNeighbors, FindClusters, RunUMAP, as a user's object is before
# RunHarmony. meta.data column "batch" names the batch.

args <- commandArgs(trailingOnly = TRUE)
out <- args[[1]]
cells <- as.integer(args[[2]])
genes <- as.integer(args[[3]])
batches <- as.integer(args[[4]])
seed <- as.integer(args[[5]])
suppressPackageStartupMessages({
  library(Seurat)
  library(Matrix)
})
set.seed(seed)
n_types <- 12L
batch <- sort(sample.int(batches, cells, replace = TRUE))
type <- sample.int(n_types, cells, replace = TRUE)
base <- stats::rlnorm(genes, meanlog = -1.5, sdlog = 1.5)
programme <- matrix(1, genes, n_types)
for (k in seq_len(n_types)) programme[sample.int(genes, genes %/% 20), k] <- 4
batch_gene <- matrix(stats::rlnorm(genes * batches, 0, 0.3), genes, batches)
depth <- stats::rlnorm(cells, log(1) + 0.2 * batch, 0.4)
# built column block by column block (cells of one batch and type share a mean vector)
cols <- vector("list", batches * n_types)
idx <- vector("list", batches * n_types)
i <- 0L
for (b in seq_len(batches)) for (k in seq_len(n_types)) {
  who <- which(batch == b & type == k)
  if (!length(who)) next
  i <- i + 1L
  mu <- outer(base * programme[, k] * batch_gene[, b], depth[who])
  m <- matrix(stats::rnbinom(length(mu), mu = mu, size = 2), genes, length(who))
  cols[[i]] <- methods::as(m, "CsparseMatrix")
  idx[[i]] <- who
}
counts <- do.call(cbind, cols[seq_len(i)])[, order(unlist(idx[seq_len(i)]))]
dimnames(counts) <- list(sprintf("GENE%05d", seq_len(genes)), sprintf("cell%06d", seq_len(cells)))
meta <- data.frame(batch = factor(paste0("batch", batch)), type = factor(paste0("type", type)),
                   row.names = colnames(counts))
obj <- CreateSeuratObject(counts = counts, meta.data = meta, project = "bench")
obj <- NormalizeData(obj, verbose = FALSE)
obj <- FindVariableFeatures(obj, nfeatures = 2000, verbose = FALSE)
obj <- ScaleData(obj, verbose = FALSE)
obj <- RunPCA(obj, npcs = 30, verbose = FALSE, seed.use = seed)
obj <- FindNeighbors(obj, dims = 1:30, verbose = FALSE)
obj <- FindClusters(obj, verbose = FALSE, random.seed = seed)
obj <- RunUMAP(obj, dims = 1:30, verbose = FALSE, seed.use = seed)
saveRDS(obj, out)
cat(sprintf("%d cells x %d genes, %d batches: %s\n", ncol(obj), nrow(obj), batches, out))
