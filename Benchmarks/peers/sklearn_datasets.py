"""scikit-learn's MLPClassifier on the splits kiln-bench-datasets wrote (same rows, same standardisation
fitted on train only, same widths, optimiser, learning rate, batch and epochs).
Usage: python sklearn_datasets.py SPLITS_JSON ROOT"""
import collections, csv, json, sys
import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
import warnings
warnings.filterwarnings("ignore")  # ConvergenceWarning at max_iter: the epoch count is the same as kiln's

splits, root = json.load(open(sys.argv[1])), sys.argv[2]
by_dataset = collections.defaultdict(list)
for s in splits:
    by_dataset[s["dataset"]].append(s)
for name, runs in by_dataset.items():
    rows = list(csv.reader(open(f"{root}/examples/{name}/data/{name}.csv")))[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float64)
    labels = [r[-1] for r in rows]
    y = np.array(labels)
    accuracies = []
    for s in runs:
        tr, te = np.array(s["train"]), np.array(s["test"])
        scaler = StandardScaler().fit(x[tr])
        clf = MLPClassifier(hidden_layer_sizes=(64, 32), activation="relu", solver="adam", learning_rate_init=1e-3,
                            batch_size=32, max_iter=200, random_state=s["seed"])
        clf.fit(scaler.transform(x[tr]), y[tr])
        accuracies.append(clf.score(scaler.transform(x[te]), y[te]))
    mean = sum(accuracies) / len(accuracies)
    print(f"{name}: test accuracy {mean * 100:.2f} % (mean of {len(accuracies)} splits: "
          + ", ".join(f"{a * 100:.1f}" for a in accuracies) + ")")
    print(json.dumps({"framework": "sklearn", "dataset": name, "accuracy": round(mean, 6)}))
