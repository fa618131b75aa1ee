import Foundation
import KilnTestSupport
import Testing

/// A text classifier through the real binary: trained on the tiny BERT checkpoint, shown, predicted over a
/// csv and a jsonl file, and served over the Open Inference Protocol with BYTES text.
extension CLI {
    static let textSpecs: [String: String] = [
        "specs/data.yaml": """
            apiVersion: kiln/v1
            kind: Dataset
            metadata: {name: reviews}
            spec:
              source: {path: ../data/reviews.csv}
              schema:
                columns:
                  review: {type: text}
                  label: {type: category, values: [rotten, fresh]}
                  movie: {type: string, ignore: true}
                label: label
              split: {strategy: stratified, train: 0.7, test: 0.3}
            """,
        "specs/model.yaml": """
            apiVersion: kiln/v1
            kind: Model
            metadata: {name: critic}
            spec:
              task: classification
              architecture: {type: transformer, pretrained: ../models/tiny-bert, pooling: cls, max_length: 16}
            """,
        "specs/train.yaml": """
            apiVersion: kiln/v1
            kind: Training
            metadata: {name: critic-train}
            spec:
              model: critic
              dataset: reviews
              epochs: 2
              batch_size: 8
              optimizer: {type: adamw, learning_rate: 3.0e-3}
              schedule: {type: linear, warmup_ratio: 0.1}
              register: {alias: staging}
            """,
    ]

    static func textDeployment(_ truncation: String) -> String {
        """
        apiVersion: kiln/v1
        kind: Deployment
        metadata: {name: critic-api}
        spec:
          model: critic@staging
          environment: staging
          auth: none
          text: {truncation: \(truncation)}
        """
    }

    func trainedCritic(truncation: String = "truncate") throws -> TemporaryDirectory {
        var files = Self.textSpecs
        files["specs/deploy.yaml"] = Self.textDeployment(truncation)
        let directory = try TemporaryDirectory(files: files)
        try FileManager.default.createDirectory(atPath: directory.path + "/data", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Repository.path("specs/valid/_data/reviews.csv"), toPath: directory.path + "/data/reviews.csv")
        try FileManager.default.createDirectory(atPath: directory.path + "/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Repository.path("specs/valid/_data/tiny-bert"), toPath: directory.path + "/models/tiny-bert")
        let run = try kiln("run", directory.path, "--quiet")
        #expect(run.status == 0, Comment(rawValue: run.stderr))
        return directory
    }

    static let texts = ["a fresh, funny and smart film", "dull", "the worst plot and the worst acting of the year, too long by far"]

    @Test func aTextClassifierIsShownPredictedAndServedAlike() throws {
        let ws = try trainedCritic()
        let show = try kiln("show", "critic@v1", "-C", ws.path)
        #expect(show.status == 0, Comment(rawValue: show.stderr))
        #expect(show.stdout.contains("transformer on text column 'review'"), Comment(rawValue: show.stdout))
        #expect(show.stdout.contains("base     ../models/tiny-bert (2 layers, hidden 16"))
        #expect(show.stdout.contains("tuning   full fine-tuning"))

        try ws.write("new.csv", "review\n" + Self.texts.map { "\"\($0)\"" }.joined(separator: "\n") + "\n")
        let predicted = try kiln("predict", "critic@staging", "--input", ws.path + "/new.csv", "-C", ws.path)
        #expect(predicted.status == 0, Comment(rawValue: predicted.stderr))
        let lines = predicted.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "label,p_rotten,p_fresh,truncated")
        let rows = lines.dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.count == 3)
        // max_length 16: the third text's tokens do not fit.
        #expect(rows.map { $0[3] } == ["false", "false", "true"])
        try ws.write("new.jsonl", Self.texts.map { "{\"review\": \"\($0)\"}" }.joined(separator: "\n") + "\n")
        let jsonl = try kiln("predict", "critic@staging", "--input", ws.path + "/new.jsonl", "--format", "jsonl", "-C", ws.path)
        #expect(jsonl.status == 0, Comment(rawValue: jsonl.stderr))
        #expect(jsonl.stdout.split(separator: "\n").count == 3)

        let (server, port) = try serve(ws.path)
        defer { server.process.terminate() }
        let client = try HTTPConnection(port: port)
        let metadata = try client.request("GET", "/v2/models/critic-api")
        #expect((metadata.json?["inputs"] as? [[String: Any]])?.first?["datatype"] as? String == "BYTES")
        let body =
            "{\"inputs\":[{\"name\":\"review\",\"datatype\":\"BYTES\",\"shape\":[3],\"data\":[\(Self.texts.map { "\"\($0)\"" }.joined(separator: ","))]}]}"
        let r = try client.post("/v2/models/critic-api/infer", json: body)
        #expect(r.status == 200, Comment(rawValue: r.text))
        let outputs = try #require(r.json?["outputs"] as? [[String: Any]])
        let labels = try #require(outputs.first { $0["name"] as? String == "label" }?["data"] as? [String])
        let probabilities = try #require(outputs.first { $0["name"] as? String == "probabilities" }?["data"] as? [Double])
        let truncated = try #require(outputs.first { $0["name"] as? String == "truncated" }?["data"] as? [Bool])
        #expect(labels == rows.map { $0[0] })
        #expect(truncated == [false, false, true])
        for (i, row) in rows.enumerated() {
            for j in 0..<2 {
                #expect(abs(probabilities[i * 2 + j] - (Double(row[j + 1]) ?? -1)) < 1e-5, "row \(i) class \(j)")
            }
        }
        let bad: [(String, String)] = [
            (body.replacingOccurrences(of: "\"review\"", with: "\"reveiw\""), "did you mean 'review'?"),
            (body.replacingOccurrences(of: "\"dull\"", with: "\"  \""), "row 1 is empty"),
            (body.replacingOccurrences(of: "\"dull\"", with: "null"), "row 1 is null"),
            (body.replacingOccurrences(of: "BYTES", with: "FP32"), "is FP32"),
        ]
        for (request, message) in bad {
            let response = try client.post("/v2/models/critic-api/infer", json: request)
            #expect(response.status == 400, Comment(rawValue: response.text))
            #expect(response.text.contains(message), Comment(rawValue: response.text))
        }
        #expect(try client.post("/v2/models/critic-api/infer", json: body).status == 200)
    }

    @Test func aDeploymentThatRefusesToTruncateSaysWhichRow() throws {
        let ws = try trainedCritic(truncation: "refuse")
        let (server, port) = try serve(ws.path)
        defer { server.process.terminate() }
        let client = try HTTPConnection(port: port)
        let body =
            "{\"inputs\":[{\"name\":\"review\",\"datatype\":\"BYTES\",\"shape\":[3],\"data\":[\(Self.texts.map { "\"\($0)\"" }.joined(separator: ","))]}]}"
        let r = try client.post("/v2/models/critic-api/infer", json: body)
        #expect(r.status == 400)
        #expect(r.text.contains("row 2 is longer than the model's 16 tokens"), Comment(rawValue: r.text))
    }
}

/// A token classifier through the real binary: trained on a CoNLL file, predicted over CoNLL (tags back
/// per token) and served with raw text (entities with offsets into the text, a tag per word).
extension CLI {
    @Test func aTokenClassifierTagsFilesAndServesEntities() throws {
        let spec = try String(contentsOfFile: Repository.path("specs/valid/token-classification.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "_data/tweets.conll", with: "../data/tweets.conll")
            .replacingOccurrences(of: "_data/tiny-bert", with: "../models/tiny-bert")
            .replacingOccurrences(of: "    - {metric: entity_f1, split: test, min: 0.0}", with: "    - {metric: entity_f1, split: test, min: 0.0}\n  register: {alias: staging}")
        let directory = try TemporaryDirectory(files: [
            "specs/ner.yaml": spec,
            "specs/deploy.yaml": """
                apiVersion: kiln/v1
                kind: Deployment
                metadata: {name: ner-api}
                spec: {model: tagger@staging, environment: staging, auth: none}
                """,
        ])
        for (target, source) in [("data/tweets.conll", "specs/valid/_data/tweets.conll"), ("models/tiny-bert", "specs/valid/_data/tiny-bert")] {
            try FileManager.default.createDirectory(
                atPath: (directory.path + "/" + target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: Repository.path(source), toPath: directory.path + "/" + target)
        }
        let run = try kiln("run", directory.path, "--quiet")
        #expect(run.status == 0, Comment(rawValue: run.stderr))

        try directory.write("new.conll", "Empire\tO\nState\tO\nBuilding\tO\n\r\nNew\nYork\n")
        let tagged = try kiln("predict", "tagger@staging", "--input", directory.path + "/new.conll", "-C", directory.path)
        #expect(tagged.status == 0, Comment(rawValue: tagged.stderr))
        let lines = tagged.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.filter { !$0.isEmpty }.map { $0.split(separator: "\t").first.map(String.init) ?? "" } == [
            "Empire", "State", "Building", "New", "York",
        ])
        #expect(lines.filter { $0.isEmpty }.count >= 2, "a blank line after each sentence")

        let (server, port) = try serve(directory.path)
        defer { server.process.terminate() }
        let client = try HTTPConnection(port: port)
        let text = "the Empire State Building in New York"
        let r = try client.post(
            "/v2/models/ner-api/infer",
            json: "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"\(text)\"]}]}")
        #expect(r.status == 200, Comment(rawValue: r.text))
        let outputs = try #require(r.json?["outputs"] as? [[String: Any]])
        let entities = try #require((outputs.first { $0["name"] as? String == "entities" }?["data"] as? [String])?.first)
        let tags = try #require((outputs.first { $0["name"] as? String == "tags" }?["data"] as? [String])?.first)
        let found = try #require(try JSONSerialization.jsonObject(with: Data(entities.utf8)) as? [[String: Any]])
        let perWord = try #require(try JSONSerialization.jsonObject(with: Data(tags.utf8)) as? [String])
        #expect(perWord.count == 7)
        let scalars = Array(text.unicodeScalars)
        for e in found {
            let (start, end) = (e["start"] as? Int ?? -1, e["end"] as? Int ?? -1)
            #expect(start >= 0 && start < end && end <= scalars.count)
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[start..<end])
            #expect(String(piece) == e["text"] as? String)
        }
        let wrong = try client.post(
            "/v2/models/ner-api/infer", json: "{\"inputs\":[{\"name\":\"txt\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"x\"]}]}")
        #expect(wrong.status == 400 && wrong.text.contains("did you mean 'text'?"), Comment(rawValue: wrong.text))
    }
}
