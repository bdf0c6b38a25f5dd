/**
 * A loopback stand-in for the few AWS calls `terraform plan` makes for these stacks: STS
 * GetCallerIdentity (data.aws_caller_identity) and EC2 DescribeImages plus GetInstanceUefiData
 * (data.aws_ami). All are AWS query-protocol APIs (form-encoded POST, XML answer). Anything else
 * gets a 400 naming the action, so a stack that starts reading something new fails its plan with
 * that name in Terraform's message instead of hanging on retries.
 *
 * Runs in the test's own process on 127.0.0.1 (an ephemeral port); callers must spawn terraform
 * asynchronously (a synchronous spawn would block the stub's event loop).
 */
import * as http from "http";
import type { AddressInfo } from "net";

/** The account the stub reports; a synthetic state's ARNs use it too. */
export const STUB_ACCOUNT_ID = "123456789012";
/** The image every DescribeImages call returns. */
export const STUB_AMI_ID = "ami-0123456789abcdef0";

export interface AwsStub {
  /** http://127.0.0.1:<port>, for the provider's `endpoints`. */
  readonly url: string;
  /** Actions served so far, in order (e.g. "GetCallerIdentity"). */
  readonly calls: readonly string[];
  close(): Promise<void>;
}

const STUB_IMAGE = `<item><imageId>${STUB_AMI_ID}</imageId><imageLocation>099720109477/ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101</imageLocation>
<imageState>available</imageState><imageOwnerId>099720109477</imageOwnerId><creationDate>2025-01-01T00:00:00.000Z</creationDate>
<isPublic>true</isPublic><architecture>x86_64</architecture><imageType>machine</imageType>
<name>ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101</name><rootDeviceType>ebs</rootDeviceType>
<rootDeviceName>/dev/sda1</rootDeviceName><virtualizationType>hvm</virtualizationType><hypervisor>xen</hypervisor>
<enaSupport>true</enaSupport><sriovNetSupport>simple</sriovNetSupport><bootMode>uefi-preferred</bootMode>
<blockDeviceMapping><item><deviceName>/dev/sda1</deviceName><ebs><snapshotId>snap-0123456789abcdef0</snapshotId>
<volumeSize>8</volumeSize><deleteOnTermination>true</deleteOnTermination><volumeType>gp3</volumeType><encrypted>false</encrypted></ebs></item></blockDeviceMapping></item>`;

const ANSWERS: Record<string, string> = {
  GetCallerIdentity: `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>
<Arn>arn:aws:iam::${STUB_ACCOUNT_ID}:user/plan-test</Arn><UserId>AIDAPLANTEST</UserId><Account>${STUB_ACCOUNT_ID}</Account>
</GetCallerIdentityResult><ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
  // data.aws_ami asks for the image's UEFI data; an image without any answers empty.
  GetInstanceUefiData: `<GetInstanceUefiDataResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>stub</requestId></GetInstanceUefiDataResponse>`,
  DescribeImages: `<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>stub</requestId>
<imagesSet>${STUB_IMAGE}</imagesSet></DescribeImagesResponse>`,
};

export function startAwsStub(): Promise<AwsStub> {
  const calls: string[] = [];
  const server = http.createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      const action = new URLSearchParams(body).get("Action") ?? new URL(request.url ?? "/", "http://stub").searchParams.get("Action") ?? "";
      calls.push(action);
      const answer = ANSWERS[action];
      response.writeHead(answer ? 200 : 400, { "content-type": "text/xml" });
      response.end(answer ?? `<Response><Errors><Error><Code>UnsupportedOperation</Code><Message>the plan-test AWS stub does not serve ${action || request.url}</Message></Error></Errors><RequestID>stub</RequestID></Response>`);
    });
  });
  // Bounded: no connection outlives a quiet plan by long, and close() never waits on keep-alives.
  server.keepAliveTimeout = 1000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        calls,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
