/// Gradient-boosted trees as XGBoost trains them: the Model's `architecture` (type `gradient_boosting`)
/// with the Training's metrics, early stopping, seed and threads. Plain values; KilnBoost turns them into
/// XGBoost's parameters (`parameters`), so the compiler and the cache key need no XGBoost.
public struct BoosterConfig: Sendable, Codable, Equatable {
    public var task: ModelConfig.Task
    /// Classes of a classification (num_class); 1 otherwise.
    public var classes: Int
    /// Boosting rounds (a tree per round, one per class for a classification).
    public var trees: Int
    public var maxDepth: Int
    public var learningRate: Double
    public var subsample: Double
    public var columnSample: Double
    public var minChildWeight: Double
    /// L1 (XGBoost's alpha) and L2 (lambda) penalties on leaf weights.
    public var l1: Double
    public var l2: Double
    /// Smallest loss reduction a split must make (XGBoost's gamma).
    public var minSplitLoss: Double
    /// Histogram bins per feature (tree_method hist).
    public var maxBins: Int
    /// Regression: Huber's loss (XGBoost's reg:pseudohubererror) instead of squared error.
    public var huber: Bool
    public var metrics: [Metric]
    /// Rounds without improvement of the monitored validation value (patience) before stopping; the
    /// model keeps the best round's trees.
    public var earlyStopping: TrainingConfig.EarlyStopping?
    public var seed: UInt64
    /// nil: the runner's default (all cores). Results are deterministic for a given thread count.
    public var threads: Int?
    /// Classification: each train row weighted by its class's weight (XGBoost's instance weights).
    public var classWeights: [Float]? = nil

    public init(
        task: ModelConfig.Task, classes: Int, trees: Int, maxDepth: Int, learningRate: Double, subsample: Double,
        columnSample: Double, minChildWeight: Double, l1: Double, l2: Double, minSplitLoss: Double, maxBins: Int,
        huber: Bool = false, metrics: [Metric], earlyStopping: TrainingConfig.EarlyStopping?, seed: UInt64, threads: Int?
    ) {
        self.task = task
        self.classes = classes
        self.trees = trees
        self.maxDepth = maxDepth
        self.learningRate = learningRate
        self.subsample = subsample
        self.columnSample = columnSample
        self.minChildWeight = minChildWeight
        self.l1 = l1
        self.l2 = l2
        self.minSplitLoss = minSplitLoss
        self.maxBins = maxBins
        self.huber = huber
        self.metrics = metrics
        self.earlyStopping = earlyStopping
        self.seed = seed
        self.threads = threads
    }

    /// XGBoost's objective for the task.
    public var objective: String {
        switch task {
        case .binary: "binary:logistic"
        case .classification: "multi:softprob"
        case .regression: huber ? "reg:pseudohubererror" : "reg:squarederror"
        }
    }

    /// The booster's parameters as XGBoost names them, in a fixed order (the card records them, and the
    /// Python peer of the benchmark passes the same).
    public func parameters(threads: Int) -> [(name: String, value: String)] {
        var p: [(String, String)] = [
            ("objective", objective), ("tree_method", "hist"), ("max_depth", "\(maxDepth)"),
            ("eta", "\(learningRate)"), ("subsample", "\(subsample)"), ("colsample_bytree", "\(columnSample)"),
            ("min_child_weight", "\(minChildWeight)"), ("alpha", "\(l1)"), ("lambda", "\(l2)"),
            ("gamma", "\(minSplitLoss)"), ("max_bin", "\(maxBins)"), ("seed", "\(seed)"), ("nthread", "\(threads)"),
            ("verbosity", "0"),
        ]
        if task == .classification { p.append(("num_class", "\(classes)")) }
        return p
    }

    /// Columns of a prediction: one per class (classification), the positive class's probability (binary),
    /// the value (regression).
    public var outputWidth: Int { task == .classification ? classes : 1 }
}

/// card.json's `booster` section: what XGBoost's `booster.json` beside it holds, in kiln's terms.
public struct BoosterCard: Sendable, Codable, Equatable {
    /// The model in XGBoost's JSON format, beside card.json.
    public static let file = "booster.json"

    /// "xgboost 1.7.4": the library that trained it.
    public var library: String
    /// Rounds kept (the best round's, with early stopping), and rounds trained.
    public var rounds: Int
    public var roundsTrained: Int
    /// The parameters given to XGBoost, by XGBoost's names.
    public var parameters: [String: String]
    /// Total gain of the splits on each input column (`inputColumns`' order), and their number.
    public var gain: [Double]
    public var splits: [Int]

    public init(library: String, rounds: Int, roundsTrained: Int, parameters: [String: String], gain: [Double], splits: [Int]) {
        self.library = library
        self.rounds = rounds
        self.roundsTrained = roundsTrained
        self.parameters = parameters
        self.gain = gain
        self.splits = splits
    }

    /// What makes the section unusable for a model of `inputs` columns, nil when nothing does.
    func problem(inputs: Int) -> String? {
        guard rounds >= 1, rounds <= roundsTrained, roundsTrained <= 1_000_000 else {
            return "a booster of \(rounds) rounds kept of \(roundsTrained) trained"
        }
        guard gain.count == inputs, splits.count == inputs, gain.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            return "its feature importance does not cover the \(inputs) input columns"
        }
        return nil
    }
}
