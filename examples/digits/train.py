#!/usr/bin/env python3
"""Train the digits example's float model and export it to ONNX (run once; outputs are committed).

scikit-learn's bundled 8×8 digits (load_digits: no download), raw pixel values
0–16 as features, a Pipeline(StandardScaler, MLPClassifier 64 → 32 → 16 → 10,
ReLU), fixed seeds. Writes, beside this script:

  digits.onnx  the pipeline via skl2onnx (zlmc folds the scaler into layer 1)
  data.npz     x_calib, y_calib: 300 training rows for calibration;
               x_test, y_test: the held-out rows (float32 pixels, int64 digits)

    pip install numpy scikit-learn skl2onnx onnxruntime
    python3 examples/digits/train.py
"""

import os

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))

digits = load_digits()
X = digits.data.astype(np.float32)
y = digits.target.astype(np.int64)
x_train, x_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y)

mlp = MLPClassifier(hidden_layer_sizes=(32, 16), activation="relu", max_iter=1000, random_state=0)
model = Pipeline([("scale", StandardScaler()), ("mlp", mlp)]).fit(x_train, y_train)
acc = model.score(x_test, y_test)

onx = to_onnx(model, x_train[:1], target_opset={"": 17, "ai.onnx.ml": 3},
              options={id(mlp): {"zipmap": False}})
with open(os.path.join(HERE, "digits.onnx"), "wb") as f:
    f.write(onx.SerializeToString())

# The exported graph must agree with scikit-learn before anyone builds on it.
sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
label, _ = sess.run(None, {sess.get_inputs()[0].name: x_test})
onnx_acc = float(np.mean(label.reshape(-1) == y_test))

rng = np.random.default_rng(0)
calib = rng.choice(len(x_train), size=300, replace=False)
np.savez_compressed(os.path.join(HERE, "data.npz"),
                    x_calib=x_train[calib], y_calib=y_train[calib], x_test=x_test, y_test=y_test)

print(f"train rows {len(x_train)}, test rows {len(x_test)}")
print(f"float test accuracy: scikit-learn {acc:.4f}, onnxruntime {onnx_acc:.4f}"
      f" ({int(round(onnx_acc * len(y_test)))} of {len(y_test)})")
