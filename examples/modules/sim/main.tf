# Documentation only: the simulated engine does not read HCL. A real module
# for plinth declares the two variables plinth writes to plinth.auto.tfvars.json.
variable "metadata" {
  type = any
}

variable "spec" {
  type = any
}
