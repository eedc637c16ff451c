#!/usr/bin/python3
"""Server reflection and machine-readable errors, seen by a client that has
no .proto file of plinth's.

Only gRPC's own reflection.proto (Debian's golang-google-grpc-dev) is compiled
here, with protoc --python_out into a temp dir. Every other message (plinth.v1,
a kind's message, google.rpc.Status and its details) is built from the
descriptors the server returns over grpc.reflection.v1, the way grpcurl or
Postman do it. Starts the real plinthd on a free port with a temp data dir.

    reflection_details_test.py PATH/TO/plinthd PATH/TO/reflection.proto-dir
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from health_reflection_test import start_daemon  # noqa: E402

PLINTHD = sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin/plinthd"
GRPC_GO = sys.argv.pop(1) if len(sys.argv) > 1 else "/usr/share/gocode/src/google.golang.org/grpc"
TOKEN = "reflection-test-token-0123456789"
AUTH = [("authorization", "Bearer " + TOKEN)]

PLINTH_SERVICES = ["plinth.v1.CloudResourceService", "plinth.v1.KindService", "plinth.v1.InfraChartService",
                   "plinth.v1.StackJobService", "plinth.v1.ConnectionService", "plinth.v1.InfraProjectService",
                   "plinth.v1.InfraPipelineService", "plinth.v1.FlowControlService"]

VPC = """apiVersion: aws.planton.dev/v1
kind: AwsVpc
metadata:
  name: main
spec:
  region: us-east-1
  cidrBlock: 10.0.0.0/16
"""


def compile_reflection_proto(out):
    rel = "reflection/grpc_reflection_v1alpha/reflection.proto"
    os.makedirs(out, exist_ok=True)
    subprocess.run(["protoc", "--python_out=" + out, "-I", GRPC_GO, os.path.join(GRPC_GO, rel)], check=True)
    sys.path.insert(0, out)
    from reflection.grpc_reflection_v1alpha import reflection_pb2
    return reflection_pb2


class Reflected:
    """Descriptors fetched over one reflection stream per lookup, kept in one pool."""

    def __init__(self, channel, pb, method):
        self.pb = pb
        self.call = channel.stream_stream(method, request_serializer=lambda m: m.SerializeToString(),
                                          response_deserializer=pb.ServerReflectionResponse.FromString)
        self.pool = descriptor_pool.DescriptorPool()
        self.added = set()

    def ask(self, metadata=AUTH, **kw):
        return list(self.call(iter([self.pb.ServerReflectionRequest(**kw)]), timeout=20, metadata=metadata))

    def load_symbol(self, symbol):
        (resp,) = self.ask(file_containing_symbol=symbol)
        if resp.HasField("error_response"):
            raise LookupError(resp.error_response.error_message)
        self._add(resp.file_descriptor_response.file_descriptor_proto)
        return self.pool.FindFileContainingSymbol(symbol)

    def _add(self, serialized):
        files = {}
        for raw in serialized:
            f = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files[f.name] = f
        def add(name):
            if name in self.added:
                return
            if name not in files:
                # Sent on an earlier stream: ask for it by name.
                (resp,) = self.ask(file_by_filename=name)
                assert not resp.HasField("error_response"), resp.error_response.error_message
                for raw in resp.file_descriptor_response.file_descriptor_proto:
                    f = descriptor_pb2.FileDescriptorProto.FromString(raw)
                    files.setdefault(f.name, f)
            for dep in files[name].dependency:
                add(dep)
            self.pool.Add(files[name])
            self.added.add(name)
        for name in list(files):
            add(name)

    def message(self, full_name):
        try:
            d = self.pool.FindMessageTypeByName(full_name)
        except KeyError:
            self.load_symbol(full_name)
            d = self.pool.FindMessageTypeByName(full_name)
        return message_factory.GetMessageClass(d) if hasattr(message_factory, "GetMessageClass") \
            else message_factory.MessageFactory(self.pool).GetPrototype(d)


class ReflectionAndDetailsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pb = compile_reflection_proto(os.path.join(cls.tmp.name, "py"))
        tokens = os.path.join(cls.tmp.name, "tokens")
        with open(tokens, "w") as f:
            f.write(TOKEN + " python\n")
        cls.proc, cls.addr, _ = start_daemon(cls.tmp.name, "--auth-token-file", tokens)
        cls.channel = grpc.insecure_channel(cls.addr)
        cls.r = Reflected(cls.channel, cls.pb, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.proc.terminate()
        assert cls.proc.wait(timeout=30) == 0, "SIGTERM must exit 0"
        cls.tmp.cleanup()

    def unary(self, service, method, request, **fields):
        """Calls service/method with types from reflection; returns the reply message."""
        sd = self.r.pool.FindServiceByName(service) if service in [s.full_name for s in self._services()] \
            else None
        if sd is None:
            self.r.load_symbol(service)
            sd = self.r.pool.FindServiceByName(service)
        md = sd.methods_by_name[method]
        req_cls = self.r.message(md.input_type.full_name)
        resp_cls = self.r.message(md.output_type.full_name)
        call = self.channel.unary_unary("/%s/%s" % (service, method),
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=resp_cls.FromString)
        return call(req_cls(**fields) if request is None else request, timeout=20, metadata=AUTH)

    def _services(self):
        out = []
        for name in self.r.added:
            out.extend(self.r.pool.FindFileByName(name).services_by_name.values())
        return out

    def details(self, err):
        """The google.rpc.Status of a failed call, decoded with reflected types."""
        raw = dict(err.trailing_metadata()).get("grpc-status-details-bin")
        self.assertIsNotNone(raw, "no grpc-status-details-bin on %s" % err.code())
        status = self.r.message("google.rpc.Status").FromString(raw)
        self.assertEqual(status.code, err.code().value[0])
        self.assertEqual(status.message, err.details())
        out = []
        for any_ in status.details:
            type_name = any_.type_url.split("/")[-1]
            out.append((type_name, self.r.message(type_name).FromString(any_.value)))
        return out

    def test_list_services_over_v1_and_v1alpha(self):
        for method in ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                       "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"):
            r = Reflected(self.channel, self.pb, method)
            (resp,) = r.ask(list_services="")
            names = [s.name for s in resp.list_services_response.service]
            for want in PLINTH_SERVICES + ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                                           "grpc.reflection.v1alpha.ServerReflection"]:
                self.assertIn(want, names, method)

    def test_every_listed_service_and_method_resolves(self):
        (resp,) = self.r.ask(list_services="")
        methods = 0
        for s in resp.list_services_response.service:
            self.r.load_symbol(s.name)
            sd = self.r.pool.FindServiceByName(s.name)
            self.assertGreater(len(sd.methods), 0, s.name)
            for m in sd.methods:
                # Input and output types are complete descriptors a client can build.
                self.r.message(m.input_type.full_name)()
                self.r.message(m.output_type.full_name)()
                methods += 1
                (by_method,) = self.r.ask(file_containing_symbol=m.full_name)
                self.assertFalse(by_method.HasField("error_response"), m.full_name)
        self.assertGreater(methods, 40)

    def test_a_kind_message_resolves_by_the_name_get_kind_reports(self):
        kind = self.unary("plinth.v1.KindService", "GetKind", None, kind="AwsVpc")
        self.assertTrue(kind.message_type, kind)
        vpc_cls = self.r.message(kind.message_type)
        spec_fields = vpc_cls.DESCRIPTOR.fields_by_name["spec"].message_type.fields_by_name
        self.assertIn("cidr_block", spec_fields)
        vpc = vpc_cls()
        vpc.kind = "AwsVpc"
        self.assertTrue(vpc.SerializeToString())

    def test_unknown_names_are_reflection_errors_not_crashes(self):
        for kw in ({"file_containing_symbol": "plinth.v1.NoSuchThing"}, {"file_by_filename": "no/such.proto"},
                   {"all_extension_numbers_of_type": "no.Such"}):
            (resp,) = self.r.ask(**kw)
            self.assertEqual(resp.error_response.error_code, grpc.StatusCode.NOT_FOUND.value[0], kw)
            self.assertTrue(resp.error_response.error_message, kw)
        (ext,) = self.r.ask(all_extension_numbers_of_type="google.protobuf.FieldOptions")
        self.assertEqual(ext.all_extension_numbers_response.base_type_name, "google.protobuf.FieldOptions")

    def test_reflection_needs_the_token_and_unknown_methods_are_unimplemented(self):
        with self.assertRaises(grpc.RpcError) as err:
            self.r.ask(metadata=None, list_services="")
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        nothing = self.channel.unary_unary("/plinth.v1.NoSuchService/Nothing")
        with self.assertRaises(grpc.RpcError) as err:
            nothing(b"", timeout=10, metadata=AUTH)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_invalid_argument_carries_bad_request_field_violations(self):
        with self.assertRaises(grpc.RpcError) as err:
            self.unary("plinth.v1.StackJobService", "ListStackJobs", None, state="bogus")
        self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        ((type_name, bad),) = self.details(err.exception)
        self.assertEqual(type_name, "google.rpc.BadRequest")
        self.assertEqual(bad.field_violations[0].field, "state")
        self.assertIn("bogus", bad.field_violations[0].description)

        with self.assertRaises(grpc.RpcError) as err:
            self.unary("plinth.v1.CloudResourceService", "CreateCloudResource", None,
                       manifest=VPC.replace("cidrBlock:", "cidrBlok:"), org="acme", env="dev")
        self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        ((type_name, bad),) = self.details(err.exception)
        self.assertEqual(type_name, "google.rpc.BadRequest")
        self.assertTrue(bad.field_violations[0].description)
        self.assertIn(bad.field_violations[0].field, err.exception.details())

    def test_not_found_carries_resource_info(self):
        with self.assertRaises(grpc.RpcError) as err:
            self.unary("plinth.v1.StackJobService", "GetStackJob", None, id="sj-does-not-exist")
        self.assertEqual(err.exception.code(), grpc.StatusCode.NOT_FOUND)
        ((type_name, info),) = self.details(err.exception)
        self.assertEqual(type_name, "google.rpc.ResourceInfo")
        self.assertEqual(info.resource_type, "plinth.v1.StackJob")
        self.assertEqual(info.resource_name, "sj-does-not-exist")

    def test_aborted_carries_error_info_with_a_reason(self):
        created = self.unary("plinth.v1.CloudResourceService", "CreateCloudResource", None,
                             manifest=VPC.replace("name: main", "name: versioned"), org="acme", env="dev")
        self.assertGreater(created.version, 0)
        with self.assertRaises(grpc.RpcError) as err:
            self.unary("plinth.v1.CloudResourceService", "UpdateCloudResource", None,
                       manifest=VPC.replace("name: main", "name: versioned").replace("us-east-1", "us-west-2"),
                       version=created.version + 7, org="acme", env="dev")
        self.assertEqual(err.exception.code(), grpc.StatusCode.ABORTED)
        ((type_name, info),) = self.details(err.exception)
        self.assertEqual(type_name, "google.rpc.ErrorInfo")
        self.assertEqual(info.reason, "VERSION_MISMATCH")
        self.assertEqual(info.domain, "plinth.dev")

        with self.assertRaises(grpc.RpcError) as err:
            self.unary("plinth.v1.CloudResourceService", "CreateCloudResource", None,
                       manifest=VPC.replace("name: main", "name: versioned"), org="acme", env="dev")
        self.assertEqual(err.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        ((type_name, info),) = self.details(err.exception)
        self.assertEqual((type_name, info.reason), ("google.rpc.ErrorInfo", "ALREADY_EXISTS"))

    def test_unauthenticated_carries_error_info(self):
        list_kinds = self.channel.unary_unary("/plinth.v1.KindService/ListKinds")
        with self.assertRaises(grpc.RpcError) as err:
            list_kinds(b"", timeout=10)
        self.assertEqual(err.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        ((type_name, info),) = self.details(err.exception)
        self.assertEqual((type_name, info.reason), ("google.rpc.ErrorInfo", "UNAUTHENTICATED"))

    def bad_request_field(self, service, method, **fields):
        with self.assertRaises(grpc.RpcError) as err:
            self.unary(service, method, None, **fields)
        self.assertEqual(err.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, fields)
        ((_, bad),) = self.details(err.exception)
        return bad.field_violations[0].field

    def walk(self, service, method, items, **fields):
        """Every item of a List call, page by page; asserts no item comes twice."""
        seen, token, pages = [], "", 0
        while True:
            resp = self.unary(service, method, None, page_token=token, **fields)
            seen.extend(getattr(resp, items))
            pages += 1
            token = resp.next_page_token
            if not token:
                break
            self.assertLess(pages, 1000)
        keys = [x.SerializeToString() for x in seen]
        self.assertEqual(len(keys), len(set(keys)), "an item came twice")
        return seen, pages

    def test_every_list_call_pages_the_same_way(self):
        for i in range(5):
            self.unary("plinth.v1.ConnectionService", "CreateConnection", None, org="acme", name="gh-%d" % i,
                       provider="git", secret_fields={"token": "t-%d" % i})
        whole = self.unary("plinth.v1.KindService", "ListKinds", None).kinds
        self.assertGreater(len(whole), 20)
        paged, pages = self.walk("plinth.v1.KindService", "ListKinds", "kinds", page_size=7)
        self.assertEqual([k.kind for k in paged], [k.kind for k in whole])
        self.assertEqual(pages, (len(whole) + 6) // 7)
        conns, pages = self.walk("plinth.v1.ConnectionService", "ListConnections", "connections", org="acme",
                                 page_size=2)
        self.assertEqual(sorted(c.name for c in conns), ["gh-%d" % i for i in range(5)])
        self.assertEqual(pages, 3)
        # Every List request of the API has the three fields.
        (resp,) = self.r.ask(list_services="")
        lists = 0
        for svc in resp.list_services_response.service:
            if not svc.name.startswith("plinth.v1."):
                continue
            self.r.load_symbol(svc.name)
            for m in self.r.pool.FindServiceByName(svc.name).methods:
                if not m.name.startswith("List"):
                    continue
                lists += 1
                self.assertIn("page_size", m.input_type.fields_by_name, m.full_name)
                self.assertIn("page_token", m.input_type.fields_by_name, m.full_name)
                self.assertIn("next_page_token", m.output_type.fields_by_name, m.full_name)
        self.assertGreaterEqual(lists, 11)

    def test_a_page_token_binds_its_query(self):
        first = self.unary("plinth.v1.KindService", "ListKinds", None, page_size=3)
        self.assertTrue(first.next_page_token.startswith("p1."))
        # The same token with another filter, or given to another List call.
        self.assertEqual(self.bad_request_field("plinth.v1.KindService", "ListKinds", provider="gcp", page_size=3,
                                                page_token=first.next_page_token), "page_token")
        self.assertEqual(self.bad_request_field("plinth.v1.ConnectionService", "ListConnections", org="acme",
                                                page_token=first.next_page_token), "page_token")
        self.assertEqual(self.bad_request_field("plinth.v1.KindService", "ListKinds", page_token="17"),
                         "page_token")
        self.assertEqual(self.bad_request_field("plinth.v1.KindService", "ListKinds", page_size=-1), "page_size")
        # page_size is not part of the query: a client may change it between pages.
        more = self.unary("plinth.v1.KindService", "ListKinds", None, page_size=50,
                          page_token=first.next_page_token)
        self.assertGreater(len(more.kinds), 3)

    def test_states_and_operations_come_as_enums_too(self):
        self.unary("plinth.v1.CloudResourceService", "CreateCloudResource", None,
                   manifest=VPC.replace("name: main", "name: enums"), org="acme", env="dev")
        key = dict(org="acme", env="dev", kind="AwsVpc", name="enums")
        key_cls = self.r.message("plinth.v1.CloudResourceKey")
        op = self.r.pool.FindEnumTypeByName("plinth.v1.Operation").values_by_name["OPERATION_PREVIEW"].number
        job = self.unary("plinth.v1.StackJobService", "CreateStackJob", None, key=key_cls(**key), operation_enum=op)
        self.assertEqual(job.operation, "preview")
        self.assertEqual(job.operation_enum, op)
        states = self.r.pool.FindEnumTypeByName("plinth.v1.StackJobState")
        self.assertEqual(states.values_by_number[job.state_enum].name, "STACK_JOB_STATE_" + job.state.upper())
        # Without modules configured the job fails quickly; wait for its end so
        # that the filter below sees a state that no longer changes.
        for _ in range(400):
            got = self.unary("plinth.v1.StackJobService", "GetStackJob", None, id=job.id)
            if got.state in ("succeeded", "failed", "cancelled", "interrupted"):
                break
            time.sleep(0.05)
        self.assertEqual(states.values_by_number[got.state_enum].name, "STACK_JOB_STATE_" + got.state.upper())
        # A filter by enum finds what the string finds.
        by_enum = self.unary("plinth.v1.StackJobService", "ListStackJobs", None, key=key_cls(**key),
                             state_enum=got.state_enum).jobs
        self.assertEqual([j.id for j in by_enum], [job.id])
        # Bad filters are INVALID_ARGUMENT naming the field, never an empty list.
        self.assertEqual(self.bad_request_field("plinth.v1.StackJobService", "ListStackJobs", key=key_cls(**key),
                                                state_enum=99), "state_enum")
        other = (got.state_enum % 7) + 1
        self.assertEqual(self.bad_request_field("plinth.v1.StackJobService", "ListStackJobs", key=key_cls(**key),
                                                state=got.state, state_enum=other), "state")
        self.assertEqual(self.bad_request_field("plinth.v1.StackJobService", "CreateStackJob", key=key_cls(**key)),
                         "operation")


if __name__ == "__main__":
    unittest.main(verbosity=2)
