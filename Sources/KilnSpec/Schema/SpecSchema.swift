/// The five kinds of resource a workspace holds.
public enum ResourceKind: String, Sendable, CaseIterable, Codable {
    case dataset = "Dataset"
    case model = "Model"
    case training = "Training"
    case deployment = "Deployment"
    case policy = "Policy"

    /// The lower-case word used in graph node ids and Policy patterns (`training/iris-train`).
    public var word: String { rawValue.lowercased() }
}

/// The spec language, once: every kind's fields, types, defaults and documentation.
/// Decoding, `kiln schema` and docs/spec-reference.md are all generated from these values.
public enum SpecSchema {
    public static let apiVersion = "kiln/v1"

    public static let actions = ["read", "run", "register", "promote", "deploy", "infer", "sign", "admin"]
    public static let classificationMetrics = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"]
    public static let regressionMetrics = ["rmse", "mae", "r2"]
    /// token_classification: entity-level scores over strict BIO spans (micro-averaged, as seqeval), and
    /// the share of tokens tagged right.
    public static let entityMetrics = ["entity_f1", "entity_precision", "entity_recall", "token_accuracy"]
    public static var metrics: [String] { classificationMetrics + regressionMetrics + entityMetrics }

    // MARK: Envelope

    public static let metadata = ObjectSchema(
        "Metadata", doc: "Identity of a resource.",
        [
            Field(
                "name", .string(.name), required: true,
                "Unique per kind: a lower-case letter, then a-z, 0-9 and '-', at most 63 characters."),
            Field("description", .string(), "Free text for people."),
            Field("labels", .map(.scalarText), "String labels (`team: research`)."),
        ])

    public static func spec(for kind: ResourceKind) -> ObjectSchema {
        switch kind {
        case .dataset: return dataset
        case .model: return model
        case .training: return training
        case .deployment: return deployment
        case .policy: return policy
        }
    }

    // MARK: Dataset

    static let column = ObjectSchema(
        "Column", doc: "A column of the data: its type and constraints.",
        [
            Field(
                "type", .enumeration(["float", "int", "bool", "category", "string", "text", "tokens", "tags"]),
                required: true,
                "How cells are parsed; a cell that does not parse is an error, never a silent NaN. `tokens` and `tags`: a sentence's tokens and their tags, from a `conll` or tokens/tags jsonl source."),
            Field("nullable", .boolean, default: "false", "Whether empty cells are allowed."),
            Field("min", .number(), "Smallest allowed value (float and int columns)."),
            Field("max", .number(), "Largest allowed value (float and int columns)."),
            Field(
                "values", .list(.scalarText, minItems: 1),
                "The categories, in order; a category label's class indices follow this order. For `tags`: the tag set (`O`, `B-X`, `I-X`, …)."),
            Field("pattern", .string(.regex), "A regular expression every value of a string column matches."),
            Field(
                "pii", .boolean, default: "false",
                "Personal data: never a feature unless a Policy allows it (`auto` features leave it out)."),
            Field("ignore", .boolean, default: "false", "Read but never used as a feature."),
            Field("description", .string(), "Free text for people."),
        ])

    static let source = ObjectSchema(
        "DatasetSource", doc: "Where the data is read from.",
        [
            Field(
                "path", .string(), required: true,
                "A file or a glob of files, relative to the spec file's directory."),
            Field(
                "format", .enumeration(["csv", "tsv", "jsonl", "conll"]),
                "Default: from the file extension. `conll`: a token and its tag per line (the first and the last column; those between are ignored), a blank line between sentences."),
            Field("header", .boolean, default: "true", "csv/tsv: the first row names the columns."),
            Field("delimiter", .string(), "csv default `,`, tsv default a tab."),
            Field(
                "null_values", .list(.string()),
                "csv/tsv: cells that mean a missing value besides the empty cell, matched whole and unquoted (`[NA, \"N/A\", \"?\"]`); a column holding them must be `nullable`. jsonl has `null`."),
        ])

    static let features: SchemaType = .oneOf([.enumeration(["auto"]), .list(.string(), minItems: 1)])

    static let datasetSchema = ObjectSchema(
        "DatasetSchema", doc: "The typed columns, the label and the features.",
        [
            Field("columns", .map(.object(column)), required: true, "Ordered map: column name -> column spec."),
            Field("label", .string(), "The target column; absent for an unlabeled (inference-only) dataset."),
            Field(
                "features", features, default: "auto",
                "`auto` (every column but the label, pii and ignored ones) or a list of column names."),
        ])

    static let severity = Field(
        "severity", .enumeration(["error", "warn"]), default: "error",
        "`error` fails the node and the data is not used; `warn` reports only.")

    static let checkVariants: [TaggedVariant] = [
        TaggedVariant(
            "not_null",
            ObjectSchema(
                "NotNullCheck", doc: "No empty cell in the columns.",
                [Field("columns", .list(.string(), minItems: 1), required: true, "Columns to check."), severity])),
        TaggedVariant(
            "range",
            ObjectSchema(
                "RangeCheck", doc: "Every value within bounds.",
                [
                    Field("column", .string(), required: true, "A numeric column."),
                    Field("min", .number(), "Smallest allowed value."),
                    Field("max", .number(), "Largest allowed value."), severity,
                ])),
        TaggedVariant(
            "unique",
            ObjectSchema(
                "UniqueCheck", doc: "No two rows share the values of the columns.",
                [
                    Field(
                        "columns", .list(.string(), minItems: 1), required: true, "Columns that together are unique."),
                    severity,
                ])),
        TaggedVariant(
            "row_count",
            ObjectSchema(
                "RowCountCheck", doc: "The number of rows within bounds.",
                [
                    Field("min", .integer(min: 0), "Fewest rows."), Field("max", .integer(min: 0), "Most rows."),
                    severity,
                ])),
        TaggedVariant(
            "bio",
            ObjectSchema(
                "BIOCheck", doc: "Every I-X tag continues a B-X or I-X entity (IOB2).",
                [Field("column", .string(), "A tags column; default: the label."), severity])),
        TaggedVariant(
            "class_balance",
            ObjectSchema(
                "ClassBalanceCheck", doc: "The most common class is at most `max_ratio` times the rarest.",
                [
                    Field("column", .string(), "Default: the label."),
                    Field("max_ratio", .number(min: 1), required: true, "Largest allowed ratio."), severity,
                ])),
        TaggedVariant(
            "allowed_values",
            ObjectSchema(
                "AllowedValuesCheck", doc: "Every value is one of a set.",
                [
                    Field("column", .string(), required: true, "The column."),
                    Field("values", .list(.scalarText, minItems: 1), "Default: the column's `values`."), severity,
                ])),
        TaggedVariant(
            "pattern",
            ObjectSchema(
                "PatternCheck", doc: "Every value matches a regular expression.",
                [
                    Field("column", .string(), required: true, "The column."),
                    Field("pattern", .string(.regex), required: true, "The regular expression."), severity,
                ])),
    ]

    static let transformColumns: SchemaType = .oneOf([.enumeration(["auto"]), .list(.string(), minItems: 1)])

    static let transformVariants: [TaggedVariant] = [
        TaggedVariant(
            "impute",
            ObjectSchema(
                "ImputeTransform", doc: "Fill empty cells, with a statistic fitted on the train split.",
                [
                    Field(
                        "columns", transformColumns, default: "auto", "Columns, or `auto` (nullable numeric features)."),
                    Field(
                        "strategy", .enumeration(["mean", "median", "most_frequent", "constant"]), default: "mean",
                        "The fill value's statistic."),
                    Field("value", .scalarText, "The fill value for `strategy: constant`."),
                ])),
        TaggedVariant(
            "standardize",
            ObjectSchema(
                "StandardizeTransform",
                doc: "Subtract the train mean, divide by the train standard deviation. On a regression's label: the model trains on the scaled target, and its predictions are mapped back.",
                [Field("columns", transformColumns, default: "auto", "Columns, or `auto` (numeric features).")])),
        TaggedVariant(
            "min_max",
            ObjectSchema(
                "MinMaxTransform", doc: "Scale to [0, 1] by the train minimum and maximum (a regression's label too).",
                [Field("columns", transformColumns, default: "auto", "Columns, or `auto` (numeric features).")])),
        TaggedVariant(
            "log",
            ObjectSchema(
                "LogTransform",
                doc: "log(1 + x), for values from 0 up (a skewed amount: prices, counts). On a regression's label: the model trains on log(1 + y), and its predictions are mapped back by exp(p) − 1.",
                [Field("columns", .list(.string(), minItems: 1), required: true, "Numeric columns.")])),
        TaggedVariant(
            "one_hot",
            ObjectSchema(
                "OneHotTransform", doc: "One 0/1 column per category; an unknown category at inference is all zeros.",
                [Field("columns", .list(.string(), minItems: 1), required: true, "Category columns.")])),
        TaggedVariant(
            "ordinal",
            ObjectSchema(
                "OrdinalTransform", doc: "A category's index in the column's `values`.",
                [Field("columns", .list(.string(), minItems: 1), required: true, "Category columns.")])),
        TaggedVariant(
            "drop",
            ObjectSchema(
                "DropTransform", doc: "Remove columns from the features.",
                [Field("columns", .list(.string(), minItems: 1), required: true, "Columns to remove.")])),
    ]

    static let split = ObjectSchema(
        "Split", doc: "How rows are divided; the same spec, data and seed give the same rows everywhere.",
        [
            Field(
                "strategy", .enumeration(["random", "stratified", "group", "ordered"]), default: "random",
                "`stratified` keeps class proportions; `group` keeps a group in one split; `ordered` by row order."),
            Field("by", .string(), "stratified: the column (default the label); group: the group column (required)."),
            Field("train", .number(min: 0, max: 1), default: "0.8", "Fraction of rows for training."),
            Field("validation", .number(min: 0, max: 1), default: "0.0", "Fraction for validation."),
            Field("test", .number(min: 0, max: 1), default: "0.2", "Fraction for testing."),
            Field("seed", .integer(min: 0), default: "0", "Seed of the shuffle."),
        ])

    static let governance = ObjectSchema(
        "Governance", doc: "How the data is to be handled.",
        [
            Field(
                "classification", .enumeration(["public", "internal", "confidential", "restricted"]),
                default: "internal", "Sensitivity of the data."),
            Field(
                "encrypt", .boolean, default: "false",
                "Encrypt cached and derived copies at rest (needs `encryption.key` in a Policy)."),
        ])

    public static let dataset = ObjectSchema(
        "DatasetSpec", doc: "A data set: source, typed schema, contract, transforms, split and governance.",
        [
            Field("source", .object(source), required: true, "Where the data is."),
            Field("schema", .object(datasetSchema), required: true, "Columns, label and features."),
            Field(
                "checks", .list(.tagged(tag: "check", variants: checkVariants, doc: "A data contract check.")),
                "The data contract, run before anything trains on the data."),
            Field(
                "transforms", .list(.tagged(tag: "op", variants: transformVariants, doc: "A feature transform.")),
                "Fitted on the train split only and stored with the model."),
            Field("split", .object(split), default: "{}", "Train/validation/test split."),
            Field("governance", .object(governance), default: "{}", "Handling rules."),
        ])

    // MARK: Model

    static let architecture = ObjectSchema(
        "Architecture", doc: "The network.",
        [
            Field(
                "type", .enumeration(["linear", "mlp", "transformer", "gradient_boosting"]), required: true,
                "`linear`: logistic (classification) or linear (regression) regression; `mlp`: a multilayer perceptron; `transformer`: a pretrained BERT-style encoder fine-tuned on a text column (classification); `gradient_boosting`: gradient-boosted trees (XGBoost, `tree_method: hist`; a missing value takes each split's learned direction)."
            ),
            Field("hidden", .list(.integer(min: 1), minItems: 1), "mlp only: widths of the hidden layers."),
            Field(
                "activation", .enumeration(["relu", "gelu", "tanh", "sigmoid"]), default: "relu",
                "mlp only: the hidden layers' activation."),
            Field(
                "dropout", .number(min: 0, max: 0.99), default: "0.0", "mlp only: dropout rate after each hidden layer."
            ),
            Field(
                "normalization", .enumeration(["none", "layernorm"]), default: "none",
                "mlp only: layer normalisation after each hidden layer."),
            Field(
                "pretrained", .string(),
                "transformer only: a folder in the Hugging Face format (config.json, model.safetensors, vocab.txt), relative to the spec file's directory, or a model name in kiln's model cache (`$KILN_MODELS`, default `~/.cache/kiln/models`; `scripts/fetch-model NAME` fills it)."),
            Field(
                "pooling", .enumeration(["pooler", "cls", "mean"]), whenRead: "pooler",
                "transformer, classification: how a sequence becomes one vector for the head: the checkpoint's pooler over [CLS] (BertForSequenceClassification), the [CLS] state, or the mean over the tokens."),
            Field(
                "max_length", .integer(min: 2, max: 4096), whenRead: "128",
                "transformer only: tokens per sequence, [CLS] and [SEP] included; longer texts are truncated (at most the model's positions)."),
            Field(
                "hidden_dropout", .number(min: 0, max: 0.99),
                "transformer only: dropout after attention and feed-forward blocks; default: the checkpoint's config."),
            Field(
                "attention_dropout", .number(min: 0, max: 0.99),
                "transformer only: dropout on attention probabilities; default: the checkpoint's config."),
            Field("trees", .integer(min: 1, max: 100_000), whenRead: "100", "gradient_boosting: boosting rounds (a tree per round, per class for a classification)."),
            Field("max_depth", .integer(min: 1, max: 32), whenRead: "6", "gradient_boosting: the deepest a tree grows."),
            Field(
                "learning_rate", .number(min: 0, max: 1, exclusiveMinimum: true), whenRead: "0.3",
                "gradient_boosting: shrinkage of each tree's contribution (XGBoost's eta)."),
            Field(
                "subsample", .number(min: 0, max: 1, exclusiveMinimum: true), whenRead: "1",
                "gradient_boosting: the share of the train rows each tree sees (drawn by the Training's seed)."),
            Field(
                "column_sample", .number(min: 0, max: 1, exclusiveMinimum: true), whenRead: "1",
                "gradient_boosting: the share of the features each tree may split on (colsample_bytree)."),
            Field(
                "min_child_weight", .number(min: 0), whenRead: "1",
                "gradient_boosting: the least Hessian weight a leaf holds (larger: more conservative)."),
            Field("l1", .number(min: 0), whenRead: "0", "gradient_boosting: L1 penalty on leaf weights (alpha)."),
            Field("l2", .number(min: 0), whenRead: "1", "gradient_boosting: L2 penalty on leaf weights (lambda)."),
            Field(
                "min_split_loss", .number(min: 0), whenRead: "0",
                "gradient_boosting: the least loss reduction a split must make (gamma)."),
            Field(
                "max_bins", .integer(min: 2, max: 65_536), whenRead: "256",
                "gradient_boosting: histogram bins per feature."),
        ])

    static let loraTargets = ["query", "key", "value", "attention_output", "intermediate", "output"]

    static let fineTuning = ObjectSchema(
        "FineTuning", doc: "transformer only: which weights train.",
        [
            Field(
                "method", .enumeration(["full", "lora"]), default: "full",
                "`full`: every weight not frozen trains; `lora`: the pretrained weights stay frozen and low-rank adapters (and the head) train."),
            Field("rank", .integer(min: 1, max: 1024), whenRead: "8", "lora: the adapters' rank."),
            Field("alpha", .number(min: 0, exclusiveMinimum: true), whenRead: "16", "lora: the scale is alpha / rank."),
            Field("dropout", .number(min: 0, max: 0.99), whenRead: "0.1", "lora: dropout on the adapters' input."),
            Field(
                "targets", .list(.enumeration(loraTargets), minItems: 1), whenRead: "[query, value]",
                "lora: the projections that get adapters."),
            Field("freeze_embeddings", .boolean, default: "false", "full: the embeddings do not train."),
            Field("freeze_layers", .integer(min: 0), default: "0", "The first this many encoder layers do not train."),
        ])

    static let width: SchemaType = .oneOf([.enumeration(["auto"]), .integer(min: 1)])

    static let initialisation = ObjectSchema(
        "Init", doc: "Weight initialisation; the same seed gives bit-identical weights.",
        [
            Field("scheme", .enumeration(["he", "xavier", "zeros"]), default: "he", "`zeros` is for `linear` only."),
            Field("seed", .integer(min: 0), default: "0", "Seed of the initialiser."),
        ])

    public static let model = ObjectSchema(
        "ModelSpec", doc: "A model: task, architecture and shapes.",
        [
            Field(
                "task", .enumeration(["classification", "binary", "regression", "token_classification"]), required: true,
                "What is predicted; decides the default loss, metrics and output width. `token_classification`: a tag per token (a transformer on a token source)."),
            Field("architecture", .object(architecture), required: true, "The network."),
            Field(
                "inputs", width, default: "auto",
                "Input width; `auto` infers it from the dataset's features after transforms."),
            Field(
                "outputs", width, default: "auto",
                "Output width; `auto`: the label's classes, or 1 for regression/binary."),
            Field("init", .object(initialisation), default: "{}", "Initialisation."),
            Field("fine_tuning", .object(fineTuning), "transformer only: full fine-tuning or LoRA, and freezing."),
            Field(
                "positive_class", .string(),
                "binary: the label's value whose probability the model predicts (default: the second of its `values`, `true` for a bool)."),
            Field(
                "threshold", .number(min: 0, max: 1, exclusiveMinimum: true), whenRead: "0.5",
                "binary: the probability at or above which the predicted label is the positive class (in metrics, `kiln predict` and serving)."),
        ])

    // MARK: Training

    static let optimizer = ObjectSchema(
        "Optimizer", doc: "The optimiser and its hyper-parameters.",
        [
            Field("type", .enumeration(["sgd", "momentum", "adam", "adamw"]), default: "adam", "The algorithm."),
            Field("learning_rate", .number(min: 0, exclusiveMinimum: true), default: "0.001", "Peak learning rate."),
            Field(
                "weight_decay", .number(min: 0), default: "0.0", "L2 (sgd, momentum, adam) or decoupled (adamw) decay."),
            Field("momentum", .number(min: 0, max: 0.999999), whenRead: "0.9", "momentum: the momentum."),
            Field("nesterov", .boolean, whenRead: "false", "momentum: use Nesterov momentum."),
            Field("beta1", .number(min: 0, max: 0.999999), whenRead: "0.9", "adam/adamw: first-moment decay."),
            Field("beta2", .number(min: 0, max: 0.999999), whenRead: "0.999", "adam/adamw: second-moment decay."),
            Field("epsilon", .number(min: 0, exclusiveMinimum: true), whenRead: "1e-8", "adam/adamw: denominator term."),
        ])

    static let schedule = ObjectSchema(
        "Schedule", doc: "The learning-rate schedule.",
        [
            Field(
                "type", .enumeration(["constant", "step", "cosine", "linear"]), default: "constant",
                "The schedule's shape; `linear` (transformers): warm-up, then a linear decay to 0 at the last step."),
            Field("warmup_epochs", .integer(min: 0), default: "0", "Linear warm-up from 0 over these epochs."),
            Field(
                "warmup_ratio", .number(min: 0, max: 1),
                "transformers: warm-up over this fraction of the optimiser steps (instead of `warmup_epochs`)."),
            Field("step_epochs", .integer(min: 1), "step: epochs between decays."),
            Field("gamma", .number(min: 0, max: 1), whenRead: "0.1", "step: the decay factor."),
            Field("min_learning_rate", .number(min: 0), whenRead: "0", "cosine: the floor."),
        ])

    static let earlyStopping = ObjectSchema(
        "EarlyStopping", doc: "Stop when a monitored value stops improving.",
        [
            Field(
                "monitor", .string(), default: "val_loss",
                "`val_loss` or `val_METRIC` for a metric the Training computes."),
            Field("patience", .integer(min: 1), required: true, "Epochs without improvement before stopping."),
            Field("min_delta", .number(min: 0), default: "0.0", "Smallest change that counts as improvement."),
        ])

    static let checkpoint = ObjectSchema(
        "Checkpoint", doc: "Checkpoints, so that a killed run resumes.",
        [Field("every_epochs", .integer(min: 1), default: "10", "Epochs between checkpoints.")])

    static let retry = ObjectSchema(
        "Retry", doc: "Retries of a failed node.",
        [
            Field("max", .integer(min: 0, max: 10), default: "0", "Retries after the first attempt."),
            Field("backoff", .duration, default: "1s", "Wait before the first retry; doubles each time."),
        ])

    static let gate = ObjectSchema(
        "Gate", doc: "A quality gate: a failed gate fails the run and blocks registration.",
        [
            Field(
                "metric", .enumeration(metrics + ["loss"]), required: true, "A metric the Training computes, or `loss`."
            ),
            Field("split", .enumeration(["train", "validation", "test"]), default: "test", "Which split's value."),
            Field("min", .number(), "Smallest passing value."),
            Field("max", .number(), "Largest passing value."),
            Field("compare_to", .string(.name), "An alias of the registered model to compare with (`production`)."),
            Field("max_drop", .number(min: 0), whenRead: "0", "With `compare_to`: the largest allowed drop."),
        ])

    static let register = ObjectSchema(
        "Register", doc: "On success, a new version in the registry.",
        [
            Field("name", .string(.name), "Registered model name; default: the model's name."),
            Field("alias", .string(.alias), "An alias to move to the new version (`staging`)."),
            Field(
                "message", .string(),
                "The version's message, like a commit message; `{path}` is the cell's value of a Training field (`lr={optimizer.learning_rate}`)."),
        ])

    static let select = ObjectSchema(
        "Select", doc: "A sweep's choice: the cell whose alias move counts.",
        [
            Field("metric", .enumeration(metrics + ["loss"]), required: true, "A metric the Training computes, or `loss`."),
            Field(
                "split", .enumeration(["validation", "test"]), default: "validation",
                "The split it is measured on: `validation` (choosing on `test` is refused: it would no longer estimate the chosen model's error)."),
            Field(
                "mode", .enumeration(["auto", "max", "min"]), default: "auto",
                "`auto`: the larger value wins, the smaller for `loss`, `rmse` and `mae`."),
        ])

    public static let training = ObjectSchema(
        "TrainingSpec", doc: "How a model is trained on a dataset, checked, and registered.",
        [
            Field("model", .string(.name), required: true, "A Model's name."),
            Field("dataset", .string(.name), required: true, "A Dataset's name; it must have a label."),
            Field("epochs", .integer(min: 1, max: 1_000_000), default: "100", "Passes over the train split."),
            Field("batch_size", .integer(min: 1, max: 1 << 24), default: "32", "Rows per step."),
            Field("optimizer", .object(optimizer), default: "{}", "The optimiser."),
            Field("schedule", .object(schedule), default: "{}", "The learning-rate schedule."),
            Field(
                "loss", .enumeration(["auto", "cross_entropy", "binary_cross_entropy", "mse", "huber"]),
                default: "auto",
                "`auto`: cross_entropy (classification), binary_cross_entropy (binary), mse (regression)."),
            Field("label_smoothing", .number(min: 0, max: 0.99), default: "0.0", "cross_entropy only."),
            Field("gradient_clip", .number(min: 0, exclusiveMinimum: true), "Clip gradients to this global norm."),
            Field(
                "gradient_accumulation", .integer(min: 1, max: 1 << 16), default: "1",
                "transformers: micro-batches per optimiser step; `batch_size` is the step's, each micro-batch `batch_size / gradient_accumulation` rows."),
            Field(
                "metrics", .list(.enumeration(metrics), minItems: 1),
                "Default: accuracy and f1_macro (classification, binary), rmse and r2 (regression)."),
            Field(
                "class_weights", .oneOf([.enumeration(["balanced"]), .map(.number(min: 0, exclusiveMinimum: true))]),
                "classification, binary: a loss weight per class (`{yes: 5}`; a class not named weighs 1), or `balanced`: n / (classes × the class's train rows). The loss is the weighted mean (Σ w·loss / Σ w); a booster weights each train row."),
            Field("early_stopping", .object(earlyStopping), "Stop early."),
            Field("checkpoint", .object(checkpoint), default: "{}", "Checkpoints."),
            Field("seed", .integer(min: 0), default: "0", "Seed of shuffling and dropout."),
            Field("threads", .integer(min: 1, max: 1024), "Compute threads; default: all cores."),
            Field("timeout", .duration, "Longest a training may run."),
            Field("retry", .object(retry), default: "{}", "Retries."),
            Field("gates", .list(.object(gate)), "Quality gates."),
            Field("register", .object(register), "Register the trained model."),
            Field(
                "matrix", .matrix,
                "A sweep: dotted field paths to lists of values; one training per combination (at most 1024), registered in the order written."),
            Field(
                "select", .object(select),
                "With `matrix` and `register.alias`: every cell is registered, and the alias moves to the best cell by this validation metric (ties: the first written)."),
        ])

    // MARK: Deployment

    static let tls = ObjectSchema(
        "TLS", doc: "HTTPS: the server's certificate and key, and optionally the CA that signs client certificates.",
        [
            Field("certificate", .string(), required: true, "PEM certificate chain (path inside the workspace)."),
            Field("key", .string(.secretReference), required: true, "PEM private key: `${file:…}` or `${env:…}`."),
            Field(
                "client_ca", .string(),
                "PEM CA certificates: clients must present a certificate they sign (mutual TLS); a Policy principal's `certificate_sha256` names one."),
        ])

    static let server = ObjectSchema(
        "Server", doc: "Where the server listens.",
        [
            Field("host", .string(), default: "127.0.0.1", "Bind address; plain HTTP with `auth: required` stays on loopback."),
            Field("port", .integer(min: 1, max: 65535), default: "8080", "TCP port."),
            Field("tls", .object(tls), "HTTPS (and mutual TLS)."),
        ])

    static let batching = ObjectSchema(
        "Batching", doc: "Dynamic batching of concurrent requests.",
        [
            Field("max_batch_size", .integer(min: 1, max: 65536), default: "64", "Most requests in one batch."),
            Field("max_delay", .duration, default: "2ms", "Longest a request waits for a batch to fill."),
        ])

    static let canary = ObjectSchema(
        "Canary", doc: "A second version that gets a share of the traffic.",
        [
            Field("model", .string(.modelReference), required: true, "The canary version (`iris-mlp@staging`)."),
            Field("traffic", .percentage, required: true, "Share of requests (`10%`)."),
        ])

    static let limits = ObjectSchema(
        "Limits", doc: "Backpressure.",
        [
            Field("max_request_bytes", .size, default: "1MiB", "Larger request bodies get 413."),
            Field("max_concurrency", .integer(min: 1, max: 1 << 20), default: "256", "More queued requests get 503."),
        ])

    static let textInput = ObjectSchema(
        "TextInput", doc: "How a transformer's text inputs are taken.",
        [
            Field(
                "truncation", .enumeration(["truncate", "refuse"]), default: "truncate",
                "A text longer than the model's `max_length`: cut (the `truncated` output says which rows were), or refused with 400."),
        ])

    public static let deployment = ObjectSchema(
        "DeploymentSpec", doc: "A registered model version served over HTTP (Open Inference Protocol v2).",
        [
            Field("model", .string(.modelReference), required: true, "`NAME@vN`, `NAME@ALIAS` or `NAME@latest`."),
            Field("environment", .string(.alias), default: "default", "A free name that Policy rules can target."),
            Field("server", .object(server), default: "{}", "Bind address and port."),
            Field("batching", .object(batching), default: "{}", "Dynamic batching."),
            Field("canary", .object(canary), "Traffic split with a second version."),
            Field("limits", .object(limits), default: "{}", "Backpressure."),
            Field("text", .object(textInput), default: "{}", "A transformer's text inputs."),
            Field(
                "unknown_categories", .enumeration(["error", "warn", "zero"]), default: "warn",
                "A category value the model was not trained on: `error` refuses the request (400, naming the value); `warn` answers with the value's one-hot block all zero, counts it in `/metrics` (`kiln_unknown_categories_total`) and names it in the response's parameters; `zero` answers so and counts it."),
            Field(
                "auth", .enumeration(["required", "none"]), default: "required",
                "`none` is an error in an environment a Policy protects."),
        ])

    // MARK: Policy

    static let principal = ObjectSchema(
        "Principal", doc: "A user or service.",
        [
            Field("name", .string(.name), required: true, "The identity (`KILN_USER`, or a token's owner)."),
            Field("roles", .list(.string(.name)), required: true, "Role names."),
            Field(
                "token_sha256", .string(.sha256OrSecret),
                "SHA-256 of the principal's bearer token (`kiln token new`), or `${file:…}`/`${env:…}` holding it."),
            Field(
                "certificate_sha256", .string(.sha256),
                "SHA-256 of the principal's client certificate (DER), for mutual TLS: `openssl x509 -in c.pem -outform der | sha256sum`."),
        ])

    static let rule = ObjectSchema(
        "Rule", doc: "An allow rule.",
        [
            Field("allow", .list(.enumeration(actions), minItems: 1), required: true, "Actions allowed."),
            Field("on", .string(), required: true, "`KIND/NAME` with `*` globs; kinds lower-case."),
            Field("environments", .list(.string(.alias), minItems: 1), "Only in these environments."),
        ])

    static let dataCondition = ObjectSchema(
        "DataCondition", doc: "Which columns a data rule applies to.",
        [
            Field("pii", .boolean, "Columns marked (or not) `pii`."),
            Field(
                "classification", .enumeration(["public", "internal", "confidential", "restricted"]),
                "Datasets of this classification."),
        ])

    static let dataRule = ObjectSchema(
        "DataRule", doc: "A rule on how data may be used.",
        [
            Field("deny", .list(.enumeration(["feature"]), minItems: 1), "Uses denied."),
            Field("allow", .list(.enumeration(["feature"]), minItems: 1), "Uses allowed (overrides a deny)."),
            Field("on", .string(), required: true, "`dataset/NAME` with `*` globs."),
            Field("where", .object(dataCondition), "The columns it applies to."),
        ])

    static let signing = ObjectSchema(
        "Signing", doc: "Signed model versions.",
        [
            Field("required_for", .list(.string(.name)), "Environments whose deployments need a signed version."),
            Field("trusted_keys", .list(.string()), "Ed25519 public key files, relative to the spec."),
        ])

    static let encryption = ObjectSchema(
        "Encryption", doc: "Encryption at rest.",
        [
            Field(
                "key", .string(.secretReference), required: true,
                "`${env:NAME}` or `${file:path}`: a 32-byte key, base64.")
        ])

    static let audit = ObjectSchema(
        "Audit", doc: "The audit log.",
        [
            Field("log", .string(), default: ".kiln/audit.log", "Append-only, hash-chained log file, inside the workspace."),
            Field(
                "key", .string(.secretReference),
                "HMAC key of the chain (base64 of 32 bytes; `openssl rand -base64 32`). Default: a key kiln makes in `.kiln/keys/audit.key`."),
        ])

    public static let policy = ObjectSchema(
        "PolicySpec", doc: "Who may do what, data rules, signing, encryption and audit.",
        [
            Field("principals", .list(.object(principal)), "Users and services."),
            Field("roles", .map(.list(.object(rule)), keyFormat: .name), "Role name -> allow rules."),
            Field("data", .list(.object(dataRule)), "Data-use rules."),
            Field("signing", .object(signing), "Signed versions."),
            Field("encryption", .object(encryption), "Encryption key."),
            Field("audit", .object(audit), default: "{}", "Audit log."),
        ])
}
