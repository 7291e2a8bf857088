// Package features is the model contract shared by the code that trains models
// (inference/training), the code that serves them (inference/recs, inference/fraud,
// the model server) and the API's fraud scoring (apiserver/fraudscore): the feature
// vector a fraud model is fed, the names of every exported graph's input and output
// tensors, the metadata keys written into the ONNX file, and how outputs are decoded
// back into product ids and scores.
//
// It lives apart from training so that serving code never links the trainers (nor
// the Kubernetes types a training job writes): a change to the contract is a change
// to this package, seen by both sides at compile time.
package features

// Metadata keys the exporters write into an ONNX file and servers read back.
const (
	// MetaPurpose is "recommendations" or "fraud".
	MetaPurpose = "kommerce.purpose"
	// MetaItems is a recommendation graph's product ids as a JSON array: the id of
	// index i is element i (see Items).
	MetaItems = "kommerce.items"
	// MetaFeatures is a fraud graph's input column names as a JSON array, in
	// FraudFeatures order.
	MetaFeatures = "kommerce.features"
	// MetaVersion is the model version the file was exported as.
	MetaVersion = "kommerce.version"
)

// Purposes written to MetaPurpose.
const (
	PurposeRecommendations = "recommendations"
	PurposeFraud           = "fraud"
)

// Names of the exported graphs' input and output tensors.
const (
	// RecsInput is INT64 [batch, context]: product indices of the context; -1 pads.
	RecsInput = "items"
	// RecsOutputScores is FP32 [batch, k]: scores, best first.
	RecsOutputScores = "scores"
	// RecsOutputItems is INT64 [batch, k]: the product indices of RecsOutputScores.
	RecsOutputItems = "item_indices"
	// FraudInput is FP32 [batch, len(FraudFeatures)]: FraudVector rows.
	FraudInput = "features"
	// FraudOutput is FP32 [batch, 1]: the probability that the order is fraudulent.
	FraudOutput = "fraud_probability"
)
