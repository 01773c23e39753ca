# Reference values for cobalt-style balance statistics and overlap weights
# (analysis.methods.propensity.balance_statistics, iptw_weights(estimand = "ATO")).
# Run from this folder: Rscript make_balance_reference.R
# Input: causal_data.csv and causal_reference_scores.csv (multinomial scores and stabilised ATE
# weights from make_causal_reference.R).
# Output: balance_reference.csv (variable, group, reference, statistic, value) and
# balance_reference_ato.csv (patient_id, w_ato).
# cobalt is not installed here, so its formulas (cobalt::bal.tab defaults, Greifer; col_w_smd,
# col_w_sd, col_w_ks) are written out by hand:
#  - factors split into one 0/1 column per level (two-level factors: the second level only);
#  - SMD = weighted mean difference / unweighted pooled SD, the pooled SD the root mean of the
#    within-arm variances over ALL arms (s.d.denom = "pooled" for a multi-category treatment);
#    binary columns use p(1 - p), continuous the n - 1 variance;
#  - variance ratio (continuous only) of weighted variances with the reliability correction
#    sum(w) / (sum(w)^2 - sum(w^2)) * sum(w (x - m)^2);
#  - KS: largest difference of weighted ECDFs (binary: absolute difference of proportions).
d <- read.csv("causal_data.csv", stringsAsFactors = FALSE)
s <- read.csv("causal_reference_scores.csv", stringsAsFactors = FALSE)
stopifnot(identical(d$patient_id, s$patient_id))
arms <- c("none", "empirical", "personalized")
cols <- list(age_at_biopsy_years = d$age_at_biopsy_years, bmi_kg_m2 = d$bmi_kg_m2,
             prior_failed_transfers = d$prior_failed_transfers)
for (lvl in sort(unique(d$center_id))) cols[[paste0("center_id[", lvl, "]")]] <- as.numeric(d$center_id == lvl)
cols[["profile_group[dysregulated]"]] <- as.numeric(d$profile_group == "dysregulated")
binary <- grepl("\\[", names(cols))
names(binary) <- names(cols)

wvar <- function(x, w) { m <- sum(w * x) / sum(w); sum(w) / (sum(w)^2 - sum(w^2)) * sum(w * (x - m)^2) }
wecdf <- function(x, w, t) sapply(t, function(v) sum(w[x <= v]) / sum(w))
ks <- function(x1, w1, x0, w0) { t <- sort(unique(c(x1, x0))); max(abs(wecdf(x1, w1, t) - wecdf(x0, w0, t))) }

out <- data.frame(variable = character(), group = character(), reference = character(),
                  statistic = character(), value = numeric())
add <- function(v, g, r, st, val) out[nrow(out) + 1, ] <<- data.frame(v, g, r, st, val)
for (v in names(cols)) {
  x <- cols[[v]]
  vars <- sapply(arms, function(a) { xa <- x[d$treatment_arm == a]; if (binary[v]) mean(xa) * (1 - mean(xa)) else var(xa) })
  sdp <- sqrt(mean(vars))
  for (pair in list(c("empirical", "none"), c("personalized", "none"), c("personalized", "empirical"))) {
    g <- d$treatment_arm == pair[1]; r <- d$treatment_arm == pair[2]
    for (wt in c("unweighted", "weighted")) {
      w <- if (wt == "weighted") s$w_ate else rep(1, nrow(d))
      mg <- sum(w[g] * x[g]) / sum(w[g]); mr <- sum(w[r] * x[r]) / sum(w[r])
      add(v, pair[1], pair[2], paste0("smd_", wt), (mg - mr) / sdp)
      if (!binary[v]) {
        add(v, pair[1], pair[2], paste0("variance_ratio_", wt), wvar(x[g], w[g]) / wvar(x[r], w[r]))
        add(v, pair[1], pair[2], paste0("ks_", wt), ks(x[g], w[g], x[r], w[r]))
      } else {
        add(v, pair[1], pair[2], paste0("ks_", wt), abs(mg - mr))
      }
    }
  }
}
write.csv(out, "balance_reference.csv", row.names = FALSE)

# generalised overlap weights (Li & Li 2019): h(x) = 1 / sum_k 1/e_k(x), w = h / e_received
P <- as.matrix(s[, c("ps_none", "ps_empirical", "ps_personalized")])
h <- 1 / rowSums(1 / P)
e_rec <- P[cbind(seq_len(nrow(d)), match(d$treatment_arm, arms))]
write.csv(data.frame(patient_id = d$patient_id, w_ato = h / e_rec), "balance_reference_ato.csv", row.names = FALSE)
writeLines(c(R.version.string), "R_VERSIONS_balance.txt")
