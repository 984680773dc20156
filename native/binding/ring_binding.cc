// Ring glue: layout constants taken from the header-only C++ rings (so JS
// and C++ can never disagree) and format/validate through the same code the
// C++ peers run. The JS hot path never calls in here.
#include "../core/msgring.h"
#include "shm_binding.h"

namespace rw {
namespace {

using namespace rw::ring;

RegionHandle* Open(const Napi::Value& v) {
  RegionHandle* h = RegionHandle::From(v);
  return h && !h->closed() ? h : nullptr;
}

// The ring at data-relative `offset` and the bytes from there to the end.
bool RingSpan(RegionHandle* h, double offset, uint8_t** base, size_t* len) {
  if (!(offset >= 0) || offset > static_cast<double>(h->map.dataSize)) return false;
  auto off = static_cast<size_t>(offset);
  *base = h->map.data() + off;
  *len = h->map.dataSize - off;
  return true;
}

// ringFormat(handle, offset, kind, capacityOrSlotSize, slotCount) -> status
Napi::Value FormatJs(const Napi::CallbackInfo& info) {
  RegionHandle* h = Open(info[0]);
  uint8_t* base;
  size_t len;
  if (!h) return Num(info.Env(), -EBADF);
  if (!RingSpan(h, info[1].As<Napi::Number>().DoubleValue(), &base, &len)) return Num(info.Env(), kErrTooSmall);
  uint32_t kind = info[2].As<Napi::Number>().Uint32Value();
  uint32_t a = info[3].As<Napi::Number>().Uint32Value();
  uint32_t b = info[4].As<Napi::Number>().Uint32Value();
  return Num(info.Env(), kind == kKindSpsc ? FormatSpsc(base, len, a) : FormatMpsc(base, len, a, b));
}

// ringValidate(handle, offset, kind) -> status (the C++ peers' verdict)
Napi::Value ValidateJs(const Napi::CallbackInfo& info) {
  RegionHandle* h = Open(info[0]);
  uint8_t* base;
  size_t len;
  if (!h) return Num(info.Env(), -EBADF);
  if (!RingSpan(h, info[1].As<Napi::Number>().DoubleValue(), &base, &len)) return Num(info.Env(), kErrTooSmall);
  return Num(info.Env(), ring::Validate(base, len, info[2].As<Napi::Number>().Uint32Value()));
}

Napi::Object Layout(Napi::Env env) {
  auto o = Napi::Object::New(env);
  auto set = [&](const char* k, double v) { o.Set(k, Num(env, v)); };
  set("magic", kMagic);
  set("version", kVersion);
  set("headerSize", kHeaderSize);
  set("align", kAlign);
  set("kindSpsc", kKindSpsc);
  set("kindMpsc", kKindMpsc);
  set("flagRecordHeader", kFlagRecordHeader);
  set("recordHeader", kRecordHeader);
  set("padding", kPadding);
  set("minCapacity", kMinCapacity);
  set("maxCapacity", kMaxCapacity);
  set("slotHeader", kSlotHeader);
  set("minSlotSize", kMinSlotSize);
  set("maxSlotSize", kMaxSlotSize);
  set("offMagic", kOffMagic);
  set("offVersion", kOffVersion);
  set("offHeaderSize", kOffHeaderSize);
  set("offKind", kOffKind);
  set("offFlags", kOffFlags);
  set("offCapacity", kOffCapacity);
  set("offSlotSize", kOffSlotSize);
  set("offSlotCount", kOffSlotCount);
  set("offMaxMessage", kOffMaxMessage);
  set("offChecksum", kOffChecksum);
  set("offWriteIndex", kOffWriteIndex);
  set("offReadIndex", kOffReadIndex);
  set("offConsumerWaiting", kOffConsumerWaiting);
  set("offProducerWaiting", kOffProducerWaiting);
  set("offConsumerWakeSeq", kOffConsumerWakeSeq);
  set("offProducerWakeSeq", kOffProducerWakeSeq);
  set("offProducerPid", kOffProducerPid);
  set("offConsumerPid", kOffConsumerPid);
  set("offProducerHeartbeat", kOffProducerHeartbeat);
  set("offConsumerHeartbeat", kOffConsumerHeartbeat);
  set("offProducerFence", kOffProducerFence);
  set("offConsumerFence", kOffConsumerFence);
  auto st = Napi::Object::New(env);
  for (int s = kOk; s <= kErrIndices; s++) st.Set(Num(env, s), Napi::String::New(env, StatusText(s)));
  o.Set("statusText", st);
  return o;
}

}  // namespace

void InitRing(Napi::Env env, Napi::Object exports) {
  exports.Set("ringFormat", Napi::Function::New(env, FormatJs, "ringFormat"));
  exports.Set("ringValidate", Napi::Function::New(env, ValidateJs, "ringValidate"));
  exports.Set("ringLayout", Layout(env));
}

}  // namespace rw
