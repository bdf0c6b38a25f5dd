import { foreignReferences } from "../lib/stack-references";

const stack = {
  resource: {
    aws_vpc: { main: { cidr_block: "10.0.0.0/16" } },
    aws_subnet: { a: { vpc_id: "${aws_vpc.main.id}", tags: { Name: "x-${data.aws_partition.p.partition}" } } },
    terraform_data: { "node_config_control-plane-1": { input: "${jsonencode(aws_subnet.a.id)}" } },
  },
  data: { aws_partition: { p: {} } },
};

test("references to the stack's own resources and data sources, variables, locals and escaped bash expansions are fine", () => {
  const json = {
    ...stack,
    output: {
      a: { value: "${aws_subnet.a.id}" },
      b: { value: "${terraform_data.node_config_control-plane-1.output.digest == \"abc.def\"}" },
      c: { value: "${var.region}-${local.name}-${path.module}" },
      d: { value: "#!/bin/bash\necho $${HOME:-/root} $${LOG_FILE%/*} $${aws_vpc.other.id}" },
      e: { value: "${cidrsubnet(aws_vpc.main.cidr_block, 8, 1)}" },
    },
  };
  expect(foreignReferences(json)).toEqual([]);
});

test("a resource or data source the stack does not define is reported, once each, sorted", () => {
  const json = {
    ...stack,
    output: {
      a: { value: "${terraform_data.record.id}" },
      b: { value: ["${data.aws_ami.ubuntu.id}", { deep: "${aws_vpc.other.id} and ${aws_vpc.other.arn}" }] },
      c: { value: "${aws_subnet.b.id}" },
    },
  };
  expect(foreignReferences(json)).toEqual(["aws_subnet.b", "aws_vpc.other", "data.aws_ami.ubuntu", "terraform_data.record"]);
});
