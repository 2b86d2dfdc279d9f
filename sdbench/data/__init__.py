"""Data: what a task is (task.yaml + hooks), the sources that make its examples, the build folder on disk
(build-task, task_data), and how a response is cut into segments (segmenter, token_spans) and scored (scoring).
May import: core, rewards.
"""
