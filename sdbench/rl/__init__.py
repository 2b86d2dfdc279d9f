"""RL: advantage estimators, the policy-gradient loss, the RL and SFT trainers with their run folders, the simulator.
May import: core, rewards, data, models, rollout.

What: `advantages.py` turns rewards (holistic and per segment) into per-token advantages, one function per
method (`ADVANTAGE_ESTIMATORS`: grpo, dr-grpo, sd-grpo, sd-dr-grpo, hybrid); `losses.py` turns per-token
advantages and log-probs into the clipped policy-gradient loss (+ optional KL), with TRL's loss aggregations.

Why: the advantage estimator is the one place the methods differ; everything else is shared, so a comparison
between methods is a comparison of credit assignment alone. Both modules are pure tensor code: tensors in,
tensors (and a dict of stats) out, no config objects, no process groups, no loggers.

Shape legend used in every shape comment of this package:

    P  prompts in the batch
    G  rollouts (completions) per prompt, the group size
    B  = P·G rollouts; rows [p·G, (p+1)·G) belong to prompt p
    T  completion tokens per rollout (right-padded to the longest completion)
    S  maximum number of segments per rollout in the batch (max K); a rollout whose prompt has K < S segments
       has its segments K … S-1 masked out
"""
