# Reference values for biomarker validity (issue 14, part 5): published cut-offs in their
# documented direction, the lab's in-range rule, nested-model comparison by likelihood ratio and
# apparent AUC gain, the U-shape tests, and the apparent calibration curve of rms::calibrate.
# Run from this folder: Rscript make_validity_reference.R
# Input: biomarker_data.csv (see make_biomarker_reference.R).
# Output: validity_reference.csv (quantity, marker, value) and validity_calibration.csv
# (predicted, apparent): lowess(p, y, iter = 0) read off by linear interpolation at 50 evenly
# spaced predicted probabilities between the 1st and 99th percentiles (rms::calibrate's smoother).
suppressPackageStartupMessages({library(pROC); library(Hmisc)})
d <- read.csv("biomarker_data.csv")
y <- d$live_birth
ctl <- glm.control(epsilon = 1e-14, maxit = 100)  # converged to the last digit, as the Python fits
out <- data.frame(quantity = character(), marker = character(), value = numeric())
add <- function(q, m, v) out[nrow(out) + seq_along(v), ] <<- data.frame(q, m, v)

# published cut-offs of IL-15/Fn-14 (0.5 low, 2 high), "normal" = predicts live birth
x <- d$il15_fn14_ratio
ss <- function(pos) c(mean(pos[y == 1]), mean(!pos[y == 0]))
add(c("sens", "spec"), "low_at_or_above_0.5", ss(x >= 0.5))
add(c("sens", "spec"), "high_at_or_below_2", ss(x <= 2))
add(c("sens", "spec"), "range_0.5_2", ss(x >= 0.5 & x <= 2))

# nested comparisons: IL-15/Fn-14 alone ("clinical") vs + uNK and vs + blood NK; LR test and
# apparent AUC gain
small <- glm(live_birth ~ il15_fn14_ratio, binomial, d, control = ctl)
auc_of <- function(f) as.numeric(auc(roc(y, predict(f), levels = c(0, 1), direction = "<", quiet = TRUE)))
for (m in c("unk_cd56_percent", "blood_nk_percent")) {
  bigger <- glm(as.formula(paste("live_birth ~ il15_fn14_ratio +", m)), binomial, d, control = ctl)
  a <- anova(small, bigger, test = "LRT")
  add(c("lr_statistic", "lr_df", "lr_p"), paste0(m, "_added"), c(a$Deviance[2], a$Df[2], a[["Pr(>Chi)"]][2]))
  add("auc_gain_apparent", paste0(m, "_added"), auc_of(bigger) - auc_of(small))
}
big <- glm(live_birth ~ il15_fn14_ratio + unk_cd56_percent + blood_nk_percent, binomial, d, control = ctl)

# U shape of each marker: spline vs linear LR, quadratic term, two lines at the spline's peak
for (m in c("il15_fn14_ratio", "unk_cd56_percent", "blood_nk_percent")) {
  x <- d[[m]]
  z <- (x - mean(x)) / sd(x)
  lin <- glm(y ~ z, binomial, control = ctl)
  quad <- glm(y ~ z + I(z^2), binomial, control = ctl)
  add(c("quadratic_coef", "quadratic_p"), m, summary(quad)$coefficients[3, c(1, 4)])
  k <- rcspline.eval(x, nk = 4, knots.only = TRUE)
  B <- rcspline.eval(x, knots = k, inclx = TRUE)
  spl <- glm(y ~ B, binomial, control = ctl)
  add("p_nonlinear", m, anova(lin, spl, test = "LRT")[["Pr(>Chi)"]][2])
  grid <- seq(quantile(x, 0.05), quantile(x, 0.95), length.out = 200)
  lp <- rcspline.eval(grid, knots = k, inclx = TRUE) %*% coef(spl)[-1]
  xc <- grid[which.max(lp)]
  up <- as.numeric(x >= xc)
  two <- glm(y ~ I((x - xc) * (1 - up)) + I((x - xc) * up) + up, binomial, control = ctl)
  cf <- summary(two)$coefficients
  add(c("breakpoint", "slope_below", "p_slope_below", "slope_above", "p_slope_above"), m,
      c(xc, cf[2, 1], cf[2, 4], cf[3, 1], cf[3, 4]))
}
write.csv(out, "validity_reference.csv", row.names = FALSE)

# apparent calibration curve (rms::calibrate's smoother) of the three-marker model
p <- fitted(big)
lo <- lowess(p, y, iter = 0)
grid <- seq(quantile(p, 0.01), quantile(p, 0.99), length.out = 50)
write.csv(data.frame(predicted = grid, apparent = approx(lo$x, lo$y, xout = grid, ties = mean)$y),
          "validity_calibration.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("pROC", packageVersion("pROC")), paste("Hmisc", packageVersion("Hmisc"))),
           "R_VERSIONS_validity.txt")
