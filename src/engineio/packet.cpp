#include "engineio/packet.hpp"
