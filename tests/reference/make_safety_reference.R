# Reference values from R for tests/test_safety_reference.py (Firth logistic regression, exact
# binomial and Newcombe intervals).
#
# Run from this folder:
#   LOGISTF_SRC=/path/to/logistf Rscript make_safety_reference.R
# LOGISTF_SRC is a checkout of https://github.com/georgheinze/logistf at commit
# f9f3641 (version 1.26.1). logistf is not among Debian's R packages, and installing it from
# CRAN needs mice and formula.tools; this script instead compiles the package's own C code
# (src/logistf.c, linked with R's LAPACK and BLAS) and sources its fitting functions
# (R/logistf.fit.R, R/logistf.control.R, R/logistf.mod.control.R, R/logistpl.R,
# R/logistpl.control.r), i.e. the code logistf() itself calls, with tight convergence limits.
# mgcv (a recommended R package) is needed by logistf.fit.
#
# Reads firth_sex2.csv: the sex2 data shipped with logistf (data/sex2.rda at that commit; urinary
# tract infection in 239 college women, Heinze & Schemper 2002, Stat Med 21:2409; the example of
# logistf's documentation), written by write.csv(sex2).
#
# Writes, next to this script:
#   firth_reference.csv        case, term, quantity, value
#     case sex2_firth: logistf.fit(x, y) coef; the penalised log-likelihood; profile penalised
#       likelihood 95% limits by logistpl (pl_low, pl_high); se_augmented = sqrt(diag(var)) as
#       logistf >= 1.24 returns it (inverse of the information of the augmented data,
#       X' diag{pi (1 - pi) (1 + h)} X).
#     case sex2_glm: glm(case ~ age + oc + vic + vicl + vis, binomial) coef and std_error (the
#       penalty off; dia is left out because all 7 diaphragm users are cases: no ML estimate).
#     case large_weighted_firth / large_weighted_glm: a 2 x 3 table with thousands of women per
#       cell given as case weights; logistf.fit(weight = w) and glm(weights = w) coefficients.
#   firth_large_weighted.csv   the table of the last case (y, x1, x2, w).
#   proportions_reference.csv  x, n, [x2, n2,] method, conf_level, low, high
#     binom.test(x, n, conf.level)$conf.int (Clopper-Pearson), prop.test(x, n, correct = FALSE)
#     (Wilson score) and the Newcombe (1998) hybrid score interval of p1 - p2 (method 10) built
#     by hand from the two Wilson intervals:
#       low  = d - sqrt((p1 - l1)^2 + (u2 - p2)^2),  high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
#   R_VERSIONS_safety.txt
options(digits = 15)
suppressPackageStartupMessages(library(mgcv))
src <- Sys.getenv("LOGISTF_SRC")
stopifnot(nzchar(src))
build <- tempfile("logistf")
dir.create(build)
file.copy(file.path(src, "src", c("logistf.c", "veclib.h")), build)
so <- file.path(build, "logistf.so")
lib <- paste(system("R CMD config LAPACK_LIBS", intern = TRUE), system("R CMD config BLAS_LIBS", intern = TRUE))
stopifnot(system(sprintf("cd %s && R CMD SHLIB -o logistf.so logistf.c %s -lgfortran", build, lib)) == 0)
dyn.load(so)
for (f in c("logistf.fit.R", "logistf.control.R", "logistf.mod.control.R", "logistpl.R", "logistpl.control.r")) {
  source(file.path(src, "R", f))
}
ctl <- logistf.control(collapse = FALSE, lconv = 1e-12, gconv = 1e-12, xconv = 1e-12, maxit = 500)
plctl <- logistpl.control(lconv = 1e-12, xconv = 1e-12, maxit = 1000)

rows <- list()
add <- function(case, term, quantity, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, term = term, quantity = quantity, value = value)
}

sex2 <- read.csv("firth_sex2.csv")
terms <- c("(Intercept)", "age", "oc", "vic", "vicl", "vis", "dia")
x <- cbind(1, as.matrix(sex2[, terms[-1]]))
y <- sex2$case
fit <- logistf.fit(x, y, control = ctl, modcontrol = logistf.mod.control())
add("sex2_firth", terms, "coef", fit$beta)
add("sex2_firth", terms, "se_augmented", sqrt(diag(fit$var)))
add("sex2_firth", "(model)", "penalized_loglik", fit$loglik)
ll0 <- fit$loglik - qchisq(0.95, 1) / 2
for (i in seq_along(terms)) {
  add("sex2_firth", terms[i], "pl_low", logistpl(x, y, fit$beta, i, ll0, TRUE, -1, plcontrol = plctl)$beta)
  add("sex2_firth", terms[i], "pl_high", logistpl(x, y, fit$beta, i, ll0, TRUE, 1, plcontrol = plctl)$beta)
}
# All 7 diaphragm users are cases (separation): the ML comparison leaves dia out.
g <- glm(case ~ age + oc + vic + vicl + vis, family = binomial, data = sex2, control = glm.control(epsilon = 1e-14, maxit = 100))
add("sex2_glm", terms[-7], "coef", unname(coef(g)))
add("sex2_glm", terms[-7], "std_error", unname(sqrt(diag(vcov(g)))))

# Large weighted table: the penalty is O(1) against a log-likelihood of O(n), so Firth and glm agree.
cells <- expand.grid(x1 = 0:1, x2 = 0:2)
p <- plogis(-2 + 0.7 * cells$x1 - 0.4 * cells$x2)
n_cell <- c(40000, 25000, 30000, 20000, 15000, 10000)
events <- round(n_cell * p)
big <- rbind(data.frame(y = 1, cells, w = events), data.frame(y = 0, cells, w = n_cell - events))
write.csv(big, "firth_large_weighted.csv", row.names = FALSE)
xb <- cbind(1, big$x1, big$x2)
fb <- logistf.fit(xb, big$y, weight = big$w, control = ctl, modcontrol = logistf.mod.control())
gb <- glm(y ~ x1 + x2, family = binomial, data = big, weights = w, control = glm.control(epsilon = 1e-14, maxit = 100))
add("large_weighted_firth", c("(Intercept)", "x1", "x2"), "coef", fb$beta)
add("large_weighted_glm", c("(Intercept)", "x1", "x2"), "coef", unname(coef(gb)))
add("large_weighted_glm", c("(Intercept)", "x1", "x2"), "std_error", unname(sqrt(diag(vcov(gb)))))
write.csv(do.call(rbind, rows), "firth_reference.csv", row.names = FALSE)

# Intervals of proportions and of a difference of proportions.
one <- data.frame(x = c(0, 1, 3, 7, 15, 50, 99, 100), n = c(20, 20, 150, 40, 600, 100, 100, 100))
prop_rows <- list()
for (level in c(0.95, 0.90)) {
  for (r in seq_len(nrow(one))) {
    cp <- binom.test(one$x[r], one$n[r], conf.level = level)$conf.int
    w <- prop.test(one$x[r], one$n[r], correct = FALSE, conf.level = level)$conf.int
    prop_rows[[length(prop_rows) + 1]] <- data.frame(x = one$x[r], n = one$n[r], x2 = NA, n2 = NA,
      method = c("clopper_pearson", "wilson"), conf_level = level, low = c(cp[1], w[1]), high = c(cp[2], w[2]))
  }
}
two <- data.frame(x = c(56, 9, 6, 5, 0, 0, 10, 3), n = c(70, 10, 7, 56, 10, 10, 10, 500),
                  x2 = c(48, 3, 2, 0, 0, 1, 0, 1), n2 = c(80, 10, 7, 29, 20, 10, 10, 480))
wilson <- function(x, n, level) {
  if (n == 0) return(c(NA, NA))
  prop.test(x, n, correct = FALSE, conf.level = level)$conf.int
}
for (level in c(0.95, 0.90)) {
  for (r in seq_len(nrow(two))) {
    p1 <- two$x[r] / two$n[r]; p2 <- two$x2[r] / two$n2[r]
    w1 <- wilson(two$x[r], two$n[r], level); w2 <- wilson(two$x2[r], two$n2[r], level)
    d <- p1 - p2
    low <- d - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2)
    high <- d + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2)
    prop_rows[[length(prop_rows) + 1]] <- data.frame(x = two$x[r], n = two$n[r], x2 = two$x2[r], n2 = two$n2[r],
      method = "newcombe_hybrid", conf_level = level, low = low, high = high)
  }
}
write.csv(do.call(rbind, prop_rows), "proportions_reference.csv", row.names = FALSE)

writeLines(c(R.version.string, "logistf 1.26.1 compiled from source (github georgheinze/logistf commit f9f3641)",
             paste("mgcv", packageVersion("mgcv"))), "R_VERSIONS_safety.txt")
