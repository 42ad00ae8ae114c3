#!/usr/bin/env python3
"""Train the digits CNN example and export it to ONNX (run once; outputs are committed).

scikit-learn's bundled 8×8 digits, split as examples/digits/train.py splits
them (a quarter held out, stratified, random_state=0), raw pixels 0–16 as
the model's input. The network is issue 21's

    Conv2d(1, 4, 3, padding=1) → ReLU → MaxPool2d(2) → Flatten → Linear(64, 10)

with the pixels reshaped to one 8×8 channel and divided by 16 inside the
model (zlmc folds the division into the convolution's kernels). Trained with
full-batch Adam and a fixed seed; exported with PyTorch's default exporter
as a user writes it, which puts the weights in `digits_cnn.onnx.data`
beside `digits_cnn.onnx`. The calibration and test rows are
examples/digits/data.npz's (the same split), so no data is duplicated.

    pip install torch onnx onnxscript scikit-learn onnxruntime
    python3 examples/digits-cnn/train.py
"""

import os

import numpy as np
import onnxruntime as ort
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "digits", "data.npz")


class DigitsCnn(nn.Module):
    """64 raw pixels → one 8×8 channel → conv 3×3 (4 filters) → ReLU → 2×2 max pool → 10 logits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = x.reshape(-1, 1, 8, 8) / 16.0
        x = self.pool(torch.relu(self.conv(x)))
        return self.fc(x.flatten(1))


digits = load_digits()
X = digits.data.astype(np.float32)
y = digits.target.astype(np.int64)
x_train, x_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y)
data = np.load(DATA)
assert np.array_equal(data["x_test"], x_test), "examples/digits/data.npz is another split"

torch.manual_seed(0)
model = DigitsCnn()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
for _ in range(300):
    opt.zero_grad()
    nn.functional.cross_entropy(model(xt), yt).backward()
    opt.step()
model.eval()
with torch.no_grad():
    logits = model(torch.from_numpy(x_test)).numpy()
acc = float(np.mean(logits.argmax(1) == y_test))

path = os.path.join(HERE, "digits_cnn.onnx")
torch.onnx.export(model, (torch.zeros(1, 64),), path, input_names=["pixels"],
                  output_names=["logits"])

# The exported graph must agree with PyTorch before anyone builds on it.
sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
got = np.concatenate([sess.run(None, {"pixels": x_test[i:i + 1]})[0] for i in range(len(x_test))])
assert np.max(np.abs(got - logits)) < 1e-4, "onnxruntime differs from PyTorch"
macs = 4 * 9 * 64 + 64 * 10
print(f"train rows {len(x_train)}, test rows {len(x_test)}; {macs} multiply-accumulates")
print(f"float test accuracy: {acc:.4f} ({int(round(acc * len(y_test)))} of {len(y_test)})")
