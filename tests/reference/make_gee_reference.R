# Reference values from R for tests/test_gee_against_r.py: independence, exchangeable and
# cluster-weighted logistic GEE of a binary outcome.
#
# Run from this folder:   Rscript make_gee_reference.R
# Needs R >= 4.2 with geepack. It reads the committed fixed data implantation.csv (written by
# make_model_reference.R) and writes, next to this script:
#
#   gee_reference.csv      model_id, term, coef, std_error (plus alpha and scale rows)
#   R_VERSIONS_gee.txt
#
# The binary outcome is "at least one gestational sac" (sacs > 0) at each transfer; the
# transfer number (1, 2, 3, 4) enters as a factor, as the all-transfer live-birth model of the
# analysis plan does. The cluster-weighted GEE gives every row the prior weight 1 / (number of
# rows of its patient) (Williamson, Datta and Satten 2003). Rows are sorted by patient, as
# geepack requires. Every value is computed by geepack; the Python tests only read the CSV.
suppressPackageStartupMessages(library(geepack))
options(digits = 15)

d <- read.csv("implantation.csv")
d <- d[order(d$patient_id, d$transfer), ]
d$any_sac <- as.integer(d$sacs > 0)
d$arm <- factor(d$arm, levels = c("none", "empirical", "personalized"))
d$transfer_band <- factor(d$transfer, levels = 1:4)
d$size <- ave(d$patient_id, d$patient_id, FUN = length)
d$cluster_weight <- 1 / d$size

rows <- function(model_id, fit) {
  est <- data.frame(model_id = model_id, term = names(coef(fit)), coef = unname(coef(fit)),
                    std_error = unname(sqrt(diag(vcov(fit)))), row.names = NULL)
  extra <- data.frame(model_id = model_id, term = c("working_correlation_alpha", "scale_phi"),
                      coef = c(if (length(fit$geese$alpha)) unname(fit$geese$alpha) else 0,
                               unname(fit$geese$gamma)),
                      std_error = NA_real_)
  rbind(est, extra)
}

f <- any_sac ~ age + arm + transfer_band
g_ind <- geeglm(f, id = patient_id, data = d, family = binomial(), corstr = "independence")
g_exch <- geeglm(f, id = patient_id, data = d, family = binomial(), corstr = "exchangeable")
# Non-integer prior weights: glm.fit warns about "non-integer #successes"; the fit is the
# weighted estimating equation all the same.
g_cw <- suppressWarnings(geeglm(f, id = patient_id, data = d, family = binomial(),
                                weights = cluster_weight, corstr = "independence"))

out <- rbind(rows("gee_binary_independence", g_ind), rows("gee_binary_exchangeable", g_exch),
             rows("gee_binary_cluster_weighted", g_cw))
write.csv(out, "gee_reference.csv", row.names = FALSE)

writeLines(c(R.version.string, paste(" geepack", packageVersion("geepack"))), "R_VERSIONS_gee.txt")
