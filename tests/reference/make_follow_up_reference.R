# Median follow-up by the reverse Kaplan-Meier method, for tests/test_follow_up.py.
# Run from this folder: Rscript make_follow_up_reference.R (R 4.2.2, survival; R_VERSIONS_follow_up.txt).
# Reads follow_up_data.csv: one row per woman of the shipped cohort (data/synthetic) from time
# zero of the first course (analysis.methods.target_trial.first_course, dropout_days = 365):
# time_days, event (live birth), treatment_arm. Writes follow_up_reference.csv: per arm and
# overall, n, the number whose follow-up ended without a live birth, and quantile(survfit(
# Surv(time_days, 1 - event) ~ arm), c(0.25, 0.5, 0.75)).
library(survival)
d <- read.csv("follow_up_data.csv", stringsAsFactors = FALSE)
one <- function(rows, group) {
  fit <- survfit(Surv(time_days, 1 - event) ~ 1, data = rows)
  q <- quantile(fit, probs = c(0.25, 0.5, 0.75))$quantile
  data.frame(group = group, n = nrow(rows), n_ended = sum(1 - rows$event),
             median_days = unname(q[2]), q1_days = unname(q[1]), q3_days = unname(q[3]))
}
out <- do.call(rbind, c(lapply(sort(unique(d$treatment_arm)), function(a) one(d[d$treatment_arm == a, ], a)),
                        list(one(d, "all"))))
write.csv(out, "follow_up_reference.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("survival", packageVersion("survival"))), "R_VERSIONS_follow_up.txt")
