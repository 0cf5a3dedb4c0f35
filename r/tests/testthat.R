# R CMD check runs this; `make test-r` runs testthat::test_dir() on the installed package.
library(testthat)
library(harmonybridge)
test_check("harmonybridge")
