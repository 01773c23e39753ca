# Reference values for the target-trial emulation (analysis/methods/target_trial.py).
#
# Run from this folder after make_target_trial_data.py:
#   Rscript make_target_trial_reference.R
# R 4.2.2, survival 3.5.3, nnet 7.3-18, sandwich 3.0-2 (R_VERSIONS_target_trial.txt).
#
# R rebuilds everything from the raw course table (one row per transfer of each woman's course
# from time zero): the baseline IPTW (nnet::multinom polished by Newton-Raphson, stabilised),
# the switch IPCW (two pooled logistic models, cumulative product), the per-protocol
# counting-process rows, and fits
#   coxph(Surv(start, stop, event) ~ ..., weights = w, cluster = patient_id, ties = "efron")
#   coxph(Surv(time_days, event) ~ assigned arm + ..., cluster = patient_id)          (ITT)
#   glm(lb ~ arm + transfer band + year + ..., binomial) with vcovCL(HC0, G/(G-1))   (discrete time)
#   glm(lb ~ arm + transfer band, quasibinomial, weights = sequential-trial IPTW) with vcovCL
# Writes target_trial_reference.csv (quantity, term, value), target_trial_weights.csv, and
# cox_counting_rows.csv / cox_counting_reference.csv (the per-protocol Cox fit in full).
suppressPackageStartupMessages({library(survival); library(nnet); library(sandwich)})

tr <- read.csv("target_trial_transfers.csv", stringsAsFactors = FALSE)
wm <- read.csv("target_trial_women.csv", stringsAsFactors = FALSE)
arms <- c("none", "empirical", "personalized")
tr$assigned_arm <- factor(tr$assigned_arm, levels = arms)
tr$treatment_arm <- factor(tr$treatment_arm, levels = arms)
tr$center_id <- factor(tr$center_id)
tr$profile_group <- factor(tr$profile_group, levels = c("balanced", "dysregulated"))
tr$on_protocol <- tr$on_protocol == "True"
tr <- tr[order(tr$patient_id, tr$k), ]
wm$assigned_arm <- factor(wm$assigned_arm, levels = arms)
wm$center_id <- factor(wm$center_id)
wm$profile_group <- factor(wm$profile_group, levels = c("balanced", "dysregulated"))
out <- list()
add <- function(q, term, value) out[[length(out) + 1]] <<- data.frame(quantity = q, term = term, value = value)

# nnet's BFGS stops on the relative change of the deviance and leaves the fitted probabilities
# ~1e-8 from the MLE (raising maxit or lowering reltol/abstol does not get it closer: checked), which
# moved the sequential-trials coefficient by ~1e-6 relative. So nnet's fit is polished by
# Newton-Raphson on the multinomial log-likelihood, on the full-rank columns of the design (an
# aliased column is dropped; the fitted probabilities are identified), to a step below 1e-12.
multinom_mle <- function(formula, data) {
  start <- multinom(formula, data = data, trace = FALSE, maxit = 1000, reltol = 1e-14)
  X <- model.matrix(formula, data = data)
  q <- qr(X)
  X <- X[, sort(q$pivot[seq_len(q$rank)]), drop = FALSE]
  y <- model.response(model.frame(formula, data = data))
  Y <- sapply(levels(y), function(l) as.numeric(y == l))
  K <- ncol(Y); p <- ncol(X)
  # Start from nnet's fitted log-odds projected on the kept columns.
  B <- qr.coef(qr(X), log(fitted(start)[, -1, drop = FALSE] / fitted(start)[, 1]))
  for (it in 1:100) {
    eta <- cbind(0, X %*% B)
    P <- exp(eta - apply(eta, 1, max)); P <- P / rowSums(P)
    g <- as.vector(crossprod(X, Y[, -1] - P[, -1]))
    H <- matrix(0, p * (K - 1), p * (K - 1))
    for (a in 1:(K - 1)) for (b in 1:(K - 1))
      H[(a - 1) * p + 1:p, (b - 1) * p + 1:p] <- crossprod(X, X * (P[, a + 1] * ((a == b) - P[, b + 1])))
    step <- solve(H, g)
    B <- B + matrix(step, p, K - 1)
    if (max(abs(step)) < 1e-12) break
  }
  if (max(abs(step)) >= 1e-12) stop("multinomial Newton-Raphson did not converge")
  eta <- cbind(0, X %*% B)
  P <- exp(eta - apply(eta, 1, max))
  P / rowSums(P)
}

# Baseline IPTW: multinomial propensity of the arm at time zero, stabilised by the arm's share.
# (calendar years centred, so that nnet's starting fit is well scaled)
ps <- multinom_mle(assigned_arm ~ age_at_biopsy_years + prior_failed_transfers + center_id + profile_group +
                     I(first_transfer_year - 2018), data = wm)
received <- ps[cbind(seq_len(nrow(wm)), as.integer(wm$assigned_arm))]
share <- as.numeric(table(wm$assigned_arm)[as.integer(wm$assigned_arm)]) / nrow(wm)
wm$bw <- share / received

# Switch IPCW: at each transfer after the first reached on protocol, P(stay on the assigned arm).
prev_on <- ave(tr$on_protocol, tr$patient_id, FUN = function(x) c(TRUE, head(x, -1)))
sw_rows <- tr[tr$k > 1 & prev_on, ]
sw_rows$stay <- as.numeric(sw_rows$on_protocol)
sw_rows$dys <- as.numeric(sw_rows$profile_group == "dysregulated")
sw_rows$kc <- pmin(sw_rows$k, 4)
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
num <- glm(stay ~ assigned_arm * dys + kc, family = binomial, data = sw_rows, control = ctl)
den <- glm(stay ~ assigned_arm * dys + kc + age_at_biopsy_years + prior_failed_transfers + center_id +
             first_transfer_year, family = binomial, data = sw_rows, control = ctl)
ratio <- ifelse(sw_rows$stay == 1, fitted(num) / fitted(den), NA)
tr$step <- 1
tr$step[match(paste(sw_rows$patient_id, sw_rows$k), paste(tr$patient_id, tr$k))] <- ratio
tr$step[!tr$on_protocol] <- NA
tr$sw <- ave(tr$step, tr$patient_id, FUN = cumprod)
tr$w <- tr$sw * wm$bw[match(tr$patient_id, wm$patient_id)]
write.csv(tr[, c("patient_id", "k", "sw", "w")], "target_trial_weights.csv", row.names = FALSE)

# Per-protocol counting-process rows.
nxt_day <- ave(tr$day, tr$patient_id, FUN = function(x) c(tail(x, -1), NA))
nxt_on <- ave(tr$on_protocol, tr$patient_id, FUN = function(x) c(tail(x, -1), FALSE))
on <- tr$on_protocol
pp <- tr[on, ]
end <- wm$time_days[match(pp$patient_id, wm$patient_id)]
status <- wm$status[match(pp$patient_id, wm$patient_id)]
has_next <- !is.na(nxt_day[on])
pp$start <- pp$day
pp$stop <- ifelse(has_next & nxt_on[on], nxt_day[on], ifelse(has_next, pp$day + 1, end))
pp$event <- as.numeric(!has_next & status == 1)
pp <- pp[is.finite(pp$w), ]
cox_pp <- coxph(Surv(start, stop, event) ~ assigned_arm + age_at_biopsy_years + prior_failed_transfers + center_id +
                  profile_group + first_transfer_year, data = pp, weights = w, cluster = patient_id,
                ties = "efron", control = coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 100))
for (t in c("empirical", "personalized")) {
  add("cox_pp_coef", t, coef(cox_pp)[paste0("assigned_arm", t)])
  add("cox_pp_robust_se", t, sqrt(diag(vcov(cox_pp)))[paste0("assigned_arm", t)])
}

# The same fit as a fixed data set for the models-layer unit test (tests/test_cox_counting.py):
# R's own rows and design, and every coefficient with its model-based and robust SE.
exact <- function(x) sprintf("%.17g", x)
mm <- model.matrix(cox_pp)
cp_rows <- data.frame(patient_id = pp$patient_id, start = pp$start, stop = pp$stop, event = pp$event,
                      w = exact(pp$w), apply(mm, 2, exact), check.names = FALSE)
write.csv(cp_rows, "cox_counting_rows.csv", row.names = FALSE, quote = FALSE)
write.csv(data.frame(term = names(coef(cox_pp)), coef = exact(coef(cox_pp)),
                     se = exact(sqrt(diag(cox_pp$naive.var))), robust_se = exact(sqrt(diag(vcov(cox_pp)))),
                     loglik = exact(cox_pp$loglik[2])),
          "cox_counting_reference.csv", row.names = FALSE, quote = FALSE)

# ITT analogue.
wm$event <- as.numeric(wm$status == 1)
cox_itt <- coxph(Surv(time_days, event) ~ assigned_arm + age_at_biopsy_years + prior_failed_transfers + center_id +
                   profile_group + first_transfer_year, data = wm, cluster = patient_id, ties = "efron",
                 control = coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 100))
for (t in c("empirical", "personalized")) {
  add("cox_itt_coef", t, coef(cox_itt)[paste0("assigned_arm", t)])
  add("cox_itt_robust_se", t, sqrt(diag(vcov(cox_itt)))[paste0("assigned_arm", t)])
}

# Discrete-time hazard: pooled logistic per transfer, cluster-robust (HC0 with G/(G-1)).
known <- tr[!is.na(tr$lb), ]
known$kband <- factor(pmin(known$k, 4), levels = 1:4)
dth <- glm(lb ~ treatment_arm + kband + I(transfer_year - 2018) + age_at_biopsy_years + prior_failed_transfers +
             center_id + profile_group + first_transfer_year, family = binomial, data = known, control = ctl)
v <- vcovCL(dth, cluster = ~patient_id, type = "HC0", cadjust = TRUE)
for (t in c("empirical", "personalized")) {
  add("dth_coef", t, coef(dth)[paste0("treatment_arm", t)])
  add("dth_robust_se", t, sqrt(diag(v))[paste0("treatment_arm", t)])
}

# Sequential trials: a propensity model of the arm at each transfer given the history.
known$previous_arm <- ave(as.character(known$treatment_arm), known$patient_id,
                          FUN = function(x) c("first", head(x, -1)))
known$previous_arm <- factor(known$previous_arm)
# (previous_arm "first" is aliased with kband 1: dropped in the Newton polish.)
pr <- multinom_mle(treatment_arm ~ kband + previous_arm + I(transfer_year - 2018) + age_at_biopsy_years +
                     prior_failed_transfers + center_id + profile_group + I(first_transfer_year - 2018),
                   data = known)
rec <- pr[cbind(seq_len(nrow(known)), as.integer(known$treatment_arm))]
sh <- as.numeric(table(known$treatment_arm)[as.integer(known$treatment_arm)]) / nrow(known)
known$stw <- sh / rec
st <- glm(lb ~ treatment_arm + kband, family = quasibinomial, data = known, weights = stw, control = ctl)
v <- vcovCL(st, cluster = ~patient_id, type = "HC0", cadjust = TRUE)
for (t in c("empirical", "personalized")) {
  add("seq_coef", t, coef(st)[paste0("treatment_arm", t)])
  add("seq_robust_se", t, sqrt(diag(v))[paste0("treatment_arm", t)])
}

res <- do.call(rbind, out)
write.csv(res, "target_trial_reference.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("survival", packageVersion("survival")), paste("nnet", packageVersion("nnet")),
             paste("sandwich", packageVersion("sandwich"))), "R_VERSIONS_target_trial.txt")
