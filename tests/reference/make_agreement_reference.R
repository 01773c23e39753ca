# Reference values for tests/test_agreement.py.
#
# Run from the repository root:  Rscript tests/reference/make_agreement_reference.R
# Writes tests/reference/agreement_data.csv (the fixed data) and
# tests/reference/agreement_reference.csv (long format: case, x, y, rows, conf_level, method,
# quantity, value). The Python tests read only the two CSVs; R is not needed to run them.
#
# Needs R >= 3.6 (sample() rejection sampling), vcd and psych (Debian: r-cran-vcd, r-cran-psych).
# Written with R 4.2.2, vcd 1.4-11, psych 2.2.9.
#
# Sources of the reference numbers:
# - Spearman rho and p-value: stats::cor.test(method = "spearman", exact = FALSE) (t approximation
#   with n - 2 df) on pairwise-complete rows.
# - Spearman CI: Fisher z with the Bonett & Wright (2000) SE sqrt((1 + rho^2 / 2) / (n - 3)) and
#   the Fieller et al. (1957) SE 1.06 / sqrt(n - 3), computed here by hand (no CRAN function in
#   Debian implements them); this checks the Python arithmetic, not the method.
# - Cohen's kappa, its large-sample SE (Fleiss, Cohen & Everitt 1969) and Wald CI: vcd::Kappa and
#   confint(); the same SE from psych::cohen.kappa (var.kappa) as a second source.
# - SE under H0: kappa = 0 (Fleiss, Cohen & Everitt 1969) and the z-test p-value: by hand.

suppressPackageStartupMessages({
  library(vcd)
  library(psych)
})

out_dir <- file.path("tests", "reference")

# ---- fixed data -----------------------------------------------------------------------------
aq <- datasets::airquality
n <- nrow(aq) # 153
set.seed(20261124)
rater_a_bin <- rbinom(n, 1, 0.4)
flip <- rbinom(n, 1, 0.15)
rater_b_bin <- ifelse(flip == 1, 1 - rater_a_bin, rater_a_bin)
rater_a_bin[sample.int(n, 5)] <- NA
rater_b_bin[sample.int(n, 4)] <- NA

lev <- c("low", "normal", "high")
rater_a_cat <- sample(lev, n, replace = TRUE, prob = c(0.25, 0.5, 0.25))
keep <- rbinom(n, 1, 0.7) == 1
rater_b_cat <- ifelse(keep, rater_a_cat, sample(lev, n, replace = TRUE))
# a third rater who never uses "high" (non-square raw table; tests the union of levels)
rater_c_cat <- ifelse(rater_b_cat == "high", "normal", rater_b_cat)
rater_a_cat[sample.int(n, 6)] <- NA
rater_b_cat[sample.int(n, 3)] <- NA
# a weakly agreeing binary rater (moderate p-value)
flip_d <- rbinom(n, 1, 0.38)
rater_d_bin <- ifelse(flip_d == 1, 1 - rater_a_bin, rater_a_bin)

dat <- data.frame(
  ozone = aq$Ozone, solar_r = aq$Solar.R, wind = aq$Wind, temp = aq$Temp,
  rater_a_bin = rater_a_bin, rater_b_bin = rater_b_bin,
  rater_a_cat = rater_a_cat, rater_b_cat = rater_b_cat, rater_c_cat = rater_c_cat,
  rater_d_bin = rater_d_bin
)
write.csv(dat, file.path(out_dir, "agreement_data.csv"), row.names = FALSE, na = "")

# ---- reference values -----------------------------------------------------------------------
rows_out <- list()
add <- function(case, x, y, rows, conf_level, method, quantity, value) {
  rows_out[[length(rows_out) + 1]] <<- data.frame(
    case = case, x = x, y = y, rows = rows, conf_level = conf_level, method = method,
    quantity = quantity, value = sprintf("%.17g", value)
  )
}

spearman_cases <- list(
  c("ozone", "temp", "0"), c("ozone", "wind", "0"), c("solar_r", "wind", "0"),
  c("ozone", "solar_r", "12"), c("wind", "temp", "7")
)
for (sc in spearman_cases) {
  xv <- dat[[sc[1]]]
  yv <- dat[[sc[2]]]
  nr <- as.integer(sc[3]) # 0: all rows, else the first nr rows
  if (nr > 0) {
    xv <- xv[seq_len(nr)]
    yv <- yv[seq_len(nr)]
  }
  ok <- complete.cases(xv, yv)
  ct <- suppressWarnings(cor.test(xv, yv, method = "spearman", exact = FALSE))
  rho <- unname(ct$estimate)
  m <- sum(ok)
  for (cl in c(0.95, 0.90)) {
    q <- qnorm((1 + cl) / 2)
    ses <- c(fisher = sqrt((1 + rho^2 / 2) / (m - 3)), fieller = 1.06 / sqrt(m - 3))
    for (meth in names(ses)) {
      case <- "spearman"
      add(case, sc[1], sc[2], nr, cl, meth, "rho", rho)
      add(case, sc[1], sc[2], nr, cl, meth, "p_value", ct$p.value)
      add(case, sc[1], sc[2], nr, cl, meth, "n", m)
      add(case, sc[1], sc[2], nr, cl, meth, "conf_low", tanh(atanh(rho) - q * ses[[meth]]))
      add(case, sc[1], sc[2], nr, cl, meth, "conf_high", tanh(atanh(rho) + q * ses[[meth]]))
    }
  }
}

kappa_cases <- list(
  c("rater_a_bin", "rater_b_bin"), c("rater_a_cat", "rater_b_cat"), c("rater_a_cat", "rater_c_cat"),
  c("rater_a_bin", "rater_d_bin")
)
for (kc in kappa_cases) {
  a <- dat[[kc[1]]]
  b <- dat[[kc[2]]]
  ok <- complete.cases(a, b)
  a <- a[ok]
  b <- b[ok]
  levs <- sort(unique(c(as.character(a), as.character(b))))
  tab <- table(factor(a, levels = levs), factor(b, levels = levs))
  m <- sum(tab)
  p <- tab / m
  pr <- rowSums(p)
  pc_ <- colSums(p)
  po <- sum(diag(p))
  pe <- sum(pr * pc_)

  vk <- vcd::Kappa(tab)
  kap <- unname(vk$Unweighted["value"])
  ase <- unname(vk$Unweighted["ASE"])
  ck <- psych::cohen.kappa(tab)
  # Fleiss, Cohen & Everitt (1969) variance under H0: kappa = 0
  se0 <- sqrt((pe + pe^2 - sum(pr * pc_ * (pr + pc_))) / (m * (1 - pe)^2))
  z <- kap / se0
  for (cl in c(0.95, 0.90)) {
    ci <- confint(vk, level = cl)["Unweighted", ]
    ckl <- psych::cohen.kappa(tab, alpha = 1 - cl)
    add("kappa", kc[1], kc[2], 0, cl, "", "kappa", kap)
    add("kappa", kc[1], kc[2], 0, cl, "", "kappa_psych", ck$kappa)
    add("kappa", kc[1], kc[2], 0, cl, "", "std_error", ase)
    add("kappa", kc[1], kc[2], 0, cl, "", "std_error_psych", sqrt(ck$var.kappa))
    add("kappa", kc[1], kc[2], 0, cl, "", "conf_low", ci[["lwr"]])
    add("kappa", kc[1], kc[2], 0, cl, "", "conf_high", ci[["upr"]])
    add("kappa", kc[1], kc[2], 0, cl, "", "conf_low_psych", ckl$confid[1, "lower"])
    add("kappa", kc[1], kc[2], 0, cl, "", "conf_high_psych", ckl$confid[1, "upper"])
    add("kappa", kc[1], kc[2], 0, cl, "", "std_error_null", se0)
    add("kappa", kc[1], kc[2], 0, cl, "", "statistic", z)
    add("kappa", kc[1], kc[2], 0, cl, "", "p_value", 2 * pnorm(-abs(z)))
    add("kappa", kc[1], kc[2], 0, cl, "", "observed_agreement", po)
    add("kappa", kc[1], kc[2], 0, cl, "", "expected_agreement", pe)
    add("kappa", kc[1], kc[2], 0, cl, "", "n", m)
  }
}

ref <- do.call(rbind, rows_out)
write.csv(ref, file.path(out_dir, "agreement_reference.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", nrow(ref), "reference values\n")
