// The Baton console (AWSStepFunctions.ListStateMachines).
